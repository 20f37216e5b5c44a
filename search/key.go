package search

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/features/records"
)

// Item names what a record describes, whatever its kind: a series' bin,
// and in it the whole volume, an axial slice or an object.
type Item struct {
	Series string
	Bin    int
	Slice  int   // −1: the whole volume
	Object int64 // 0: none
}

// ItemOf returns the item rec describes.
func ItemOf(rec *records.Record) Item {
	return Item{Series: rec.SeriesUID, Bin: rec.Bin, Slice: rec.Slice, Object: rec.Object}
}

// String writes the item's key: the series UID, then "/bBIN" unless the
// bin is 0, "/sSLICE" unless it is the volume and "/oOBJECT" unless it is
// 0: "1.2.3" (bin 0's volume), "1.2.3/b2/s40", "1.2.3/o3".
func (it Item) String() string {
	var b strings.Builder
	b.WriteString(it.Series)
	if it.Bin != 0 {
		fmt.Fprintf(&b, "/b%d", it.Bin)
	}
	if it.Slice != -1 {
		fmt.Fprintf(&b, "/s%d", it.Slice)
	}
	if it.Object != 0 {
		fmt.Fprintf(&b, "/o%d", it.Object)
	}
	return b.String()
}

// ParseItem reads an item key (Item.String), parts in any order, or the
// older form SERIES_UID:SLICE; the error names the part that is wrong.
func ParseItem(key string) (Item, error) {
	if series, slice, ok := strings.Cut(key, ":"); ok && !strings.Contains(key, "/") {
		key = series + "/s" + slice
	}
	parts := strings.Split(key, "/")
	it := Item{Series: parts[0], Slice: -1}
	if !dicomio.ValidUID(it.Series) {
		return Item{}, fmt.Errorf("item key %q: %q is not a series UID (digits and dots)", key, it.Series)
	}
	for _, p := range parts[1:] {
		if len(p) < 2 {
			return Item{}, fmt.Errorf("item key %q: part %q: want bN, sN or oN", key, p)
		}
		n, err := strconv.ParseInt(p[1:], 10, 64)
		switch {
		case err != nil:
			return Item{}, fmt.Errorf("item key %q: part %q: %q is not an integer", key, p, p[1:])
		case p[0] == 'b' && n >= 0 && n < 1<<16:
			it.Bin = int(n)
		case p[0] == 's' && n >= -1 && n < 1<<31:
			it.Slice = int(n)
		case p[0] == 'o' && n >= 0:
			it.Object = n
		default:
			return Item{}, fmt.Errorf("item key %q: part %q: want bBIN, sSLICE or oOBJECT with a bin, slice (-1 for the volume) or object in range", key, p)
		}
	}
	return it, nil
}
