package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
)

// Client asks a running service's HTTP API.
type Client struct {
	// URL is the service's, http://host:port.
	URL string
	// Token is the bearer token, when the service wants one.
	Token string
}

// Search posts q to /search and returns the answer as sent and decoded.
// An answer other than 200 is an error with the service's message.
func (c Client) Search(ctx context.Context, q Query) ([]byte, *Answer, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/search", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return nil, nil, fmt.Errorf("search: HTTP %d: %s", resp.StatusCode, e.Error)
		}
		return nil, nil, fmt.Errorf("search: HTTP %d: %s", resp.StatusCode, out)
	}
	var a Answer
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, nil, fmt.Errorf("search: the answer of %s is not a search answer: %w", c.URL, err)
	}
	return out, &a, nil
}

// WriteTable writes a's hits for people, one a line in rank order: rank,
// the distance or SIM_deg ("-" for a filter's hits), kind, study, series,
// bin, slice ("volume" for a whole volume), object and class ("-" for
// none), then a line saying how many hits, the total of a filter, the
// index and the time, a line per shard for an answer merged from shards,
// and the cursor of the next page.
func (a *Answer) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tSCORE\tKIND\tSTUDY\tSERIES\tBIN\tSLICE\tOBJECT\tCLASS")
	for _, h := range a.Hits {
		score := "-"
		switch {
		case h.Distance != nil:
			score = strconv.FormatFloat(*h.Distance, 'g', 4, 64)
		case h.Sim != nil:
			score = strconv.FormatFloat(*h.Sim, 'g', 4, 64)
		}
		slice, object := strconv.Itoa(h.Slice), "-"
		if h.Slice < 0 {
			slice = "volume"
		}
		if h.Object > 0 {
			object = strconv.FormatInt(h.Object, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", h.Rank, score, h.Kind, orDash(h.StudyUID), h.SeriesUID, h.Bin, slice, object, orDash(h.Class))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	total := ""
	if a.Total != nil {
		total = fmt.Sprintf(" of %d", *a.Total)
	}
	_, err := fmt.Fprintf(w, "%d hits%s, by %s in %.3g ms\n", len(a.Hits), total, a.Index, a.TookMS)
	for i := 0; i < len(a.Shards) && err == nil; i++ {
		if s := a.Shards[i]; s.Error != "" {
			_, err = fmt.Fprintf(w, "  shard %s: no hits, it refused the query: %s\n", s.Shard, s.Error)
		} else {
			_, err = fmt.Fprintf(w, "  shard %s: by %s in %.3g ms\n", s.Shard, s.Index, s.TookMS)
		}
	}
	if err == nil && a.Next != "" {
		_, err = fmt.Fprintf(w, "next page: --cursor %s\n", a.Next)
	}
	return err
}

// orDash returns s, or "-" when s is empty, so a column never collapses.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
