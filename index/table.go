package index

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes r's hits to w as a table for people, one hit a line in
// the answer's order (nearest first): rank, distance (4 significant
// digits), study, series, bin, and slice, which is "volume" for a whole
// volume's vector. Identifiers a hit lacks (a vector not stored by
// AddFeature) are "-".
func (r *SearchResponse) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tDISTANCE\tSTUDY\tSERIES\tBIN\tSLICE")
	for _, h := range r.Hits {
		bin, slice := "-", "-"
		if h.Bin != nil {
			bin = strconv.Itoa(*h.Bin)
		}
		switch {
		case h.Slice == nil:
		case *h.Slice < 0:
			slice = "volume"
		default:
			slice = strconv.Itoa(*h.Slice)
		}
		fmt.Fprintf(tw, "%d\t%.4g\t%s\t%s\t%s\t%s\n", h.Rank, h.Distance, orDash(h.StudyUID), orDash(h.SeriesUID), bin, slice)
	}
	return tw.Flush()
}

// orDash returns s, or "-" when s is empty, so a table column never
// collapses.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
