package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/features/records"
	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/search"
)

// followSearch opens a search library in a new folder and follows b's
// FEATURES stream into it until the test ends.
func followSearch(t *testing.T, b *bus.Bus) (*search.Library, *search.Follower) {
	t.Helper()
	lib, err := search.Open(context.Background(), search.Config{Dir: t.TempDir(), Log: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	f := &search.Follower{Library: lib, Bus: b}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("search follower: %v", err)
		}
		lib.Close()
	})
	return lib, f
}

// histVectors returns how many HU histograms lib indexes.
func histVectors(t *testing.T, lib *search.Library) int {
	t.Helper()
	kinds, err := lib.Kinds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if k.Kind == features.KindHistHU {
			return k.Vectors
		}
	}
	return 0
}

// search --icons FILE and --within ask the service as the flags say, and a
// wrong query is an error naming the flag, file or field.
func TestSearchFlags(t *testing.T) {
	lib, err := search.Open(context.Background(), search.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	var recs []records.Record
	for i, classes := range [][2]string{{"bone", "contrast"}, {"contrast", "bone"}, {"lipid", "lipid"}} {
		vi, err := sp.Volume([]sp.Object{
			{Label: 1, Class: classes[0], Min: [3]float64{0, 0, 0}, Max: [3]float64{10, 10, 10}},
			{Label: 2, Class: classes[1], Min: [3]float64{20, 0, 0}, Max: [3]float64{30, 10, 10}}}, sp.DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(vi)
		series := fmt.Sprintf("1.2.%d", i)
		recs = append(recs,
			records.Record{StudyUID: "1.2", SeriesUID: series, Slice: -1, Kind: "vimage-xyz", Version: 1, Settings: "0123456789abcdef", Data: data},
			records.Record{StudyUID: "1.2", SeriesUID: series, Slice: -1, Kind: "hist-hu", Version: 1, Settings: "0123456789abcdef", Values: []float32{float32(i), 0}})
	}
	if err := lib.Add(context.Background(), recs, 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(lib.Handler(search.HTTPOptions{}))
	defer srv.Close()
	icons := filepath.Join(t.TempDir(), "icons.json")
	q := `{"mandatory":[{"name":"A","class":"bone"},{"name":"B","class":"contrast"}],"relations":[[{"a":"A","rel":"before","b":"B"}]],"threshold":0.9}`
	if err := os.WriteFile(icons, []byte(q), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--icons", icons}, "1 hits, by spatial"},
		{[]string{"--vector", "0,0", "--within", "1.5"}, "2 hits, by exact"},
	} {
		out, _ := captureOutput(t, func() error { return runSearch(append([]string{"--http", srv.URL}, c.args...)) })
		if !strings.Contains(out, c.want) || c.want[0] == '1' && !strings.Contains(out, " 1.2.0 ") {
			t.Errorf("search %v printed\n%s, want %q", c.args, out, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give --like, --vector, --icons FILE or --filter"},
		{[]string{"--icons", icons + ".missing"}, "--icons: open"},
		{[]string{"--icons", "search_test.go"}, "not a query by icons"},
		{[]string{"--vector", "1,x"}, `--vector: value 1, "x"`},
		{[]string{"--vector", "1,2,3"}, "vector has 3 values, kind hist-hu-v1 has 2"},
		{[]string{"--filter", "morph.vol > 5"}, `unknown field "morph.vol"`},
		{[]string{"--like", "1.2.3", "-k", "0"}, "-k 0: must be positive"},
		{[]string{"--filter", "bin = 1", "--limit", "0"}, "--limit 0: must be positive"},
	} {
		err := runSearch(append([]string{"--http", srv.URL}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("search %v: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}

// search --nats asks the service's NATS endpoint instead of HTTP.
func TestSearchOverNATS(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	lib, err := search.Open(context.Background(), search.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	recs := []records.Record{
		{StudyUID: "1.2", SeriesUID: "1.2.1", Slice: -1, Kind: "hist-hu", Version: 1, Settings: "0123456789abcdef", Values: []float32{0, 1}},
		{StudyUID: "1.2", SeriesUID: "1.2.2", Slice: -1, Kind: "hist-hu", Version: 1, Settings: "0123456789abcdef", Values: []float32{0, 2}},
	}
	if err := lib.Add(context.Background(), recs, 1); err != nil {
		t.Fatal(err)
	}
	svc, err := lib.ServeNATS(b.Conn(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	out, _ := captureOutput(t, func() error {
		return runSearch([]string{"--nats", srv.ClientURL(), "--like", "1.2.1", "--json"})
	})
	var a search.Answer
	if err := json.Unmarshal([]byte(out), &a); err != nil || len(a.Hits) != 1 || a.Hits[0].Key != "1.2.2" || *a.Hits[0].Distance != 1 {
		t.Errorf("search --nats printed %s (%v), want 1.2.2 at 1", out, err)
	}
	// The other way's flags are refused, not ignored (trial 28 gave --http
	// and --nats together, and --http was ignored without a word).
	for _, args := range [][]string{
		{"--nats", srv.ClientURL(), "--http", "http://127.0.0.1:1"},
		{"--nats", srv.ClientURL(), "--token", "secret"},
		{"--http", "http://127.0.0.1:1", "--creds", "x.creds"},
	} {
		err := runSearch(append(args, "--like", "1.2.1"))
		if flag := args[2]; err == nil || !strings.HasPrefix(err.Error(), flag+": ") {
			t.Errorf("search %v: error %v, want one naming %s", args, err, flag)
		}
	}
	// An HTTP address given to --nats is refused at once, not tried for
	// seconds as a server that does not answer.
	err = runSearch([]string{"--nats", "http://127.0.0.1:8080", "--like", "1.2.1"})
	if err == nil || !strings.Contains(err.Error(), "--nats http://127.0.0.1:8080: not a NATS URL: want nats://HOST:PORT") {
		t.Errorf("search --nats http://...: %v, want that it is not a NATS URL", err)
	}
}
