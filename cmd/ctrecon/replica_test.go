package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/search"
)

// searchRecords returns the feature records of n series for the tests of
// search processes: the HU histogram of each series' volume and of two of
// its slices, 8 values each, from a fixed seed.
func searchRecords(n int) []records.Record {
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	var out []records.Record
	for s := range n {
		for _, slice := range []int{-1, 0, 1} {
			v := make(records.Vector, 8)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			out = append(out, records.Record{StudyUID: "1.2.40", SeriesUID: fmt.Sprintf("1.2.40.%d", s), Slice: slice,
				Kind: "hist-hu", Version: 1, Settings: "0123456789abcdef", Values: v})
		}
	}
	return out
}

// searchQueries are what the clients of the process tests ask: the 5
// nearest to each of the first series' volumes and a filter's pages.
func searchQueries(recs []records.Record) []search.Query {
	var qs []search.Query
	for i := 0; i < len(recs) && len(qs) < 20; i += 3 {
		qs = append(qs, search.Query{Kind: features.KindHistHU, Like: search.ItemOf(&recs[i]).String(), K: 5})
	}
	return append(qs, search.Query{Filter: "slice = 0", Limit: 7})
}

// startServeProcess runs `ctrecon serve` against the NATS server url with its
// own data folder and any free HTTP port, with args added, and returns the
// process and its HTTP address once it serves.
func startServeProcess(t *testing.T, bin, url string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--nats", url, "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--device", "cpu", "--threads", "1"}, args...)...)
	cmd.Env = append(os.Environ(), "CTRECON_SEARCH_TOKEN=")
	path := startLogged(t, cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitLog(t, path, "msg=serving")
	data, _ := os.ReadFile(path)
	m := regexp.MustCompile(`msg=serving http=(http://\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("serve's log names no HTTP address:\n%s", data)
	}
	return cmd, string(m[1])
}

// getJSON decodes the JSON answer of GET url into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitIndexed waits, at most two minutes, until the service at url holds
// n records (a shard's, through its fan-out, every shard's together), and
// fails at once when it holds more (a record in two shards).
func waitIndexed(t *testing.T, n int, url string) {
	t.Helper()
	held, err := 0, error(nil)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var k struct{ Kinds []search.KindInfo }
		if err = getJSON(url+"/search/kinds", &k); err != nil {
			continue // a shard's fan-out before every shard serves: 503
		}
		held = 0
		for _, ki := range k.Kinds {
			held += ki.Records
		}
		switch {
		case held == n:
			return
		case held > n:
			t.Fatalf("the service at %s holds %d records, more than the %d published", url, held, n)
		}
	}
	t.Fatalf("the service at %s holds %d records after two minutes (%v), want %d", url, held, err, n)
}

// waitLibrary waits, at most a minute, until lib holds the stream
// through sequence n.
func waitLibrary(t *testing.T, lib *search.Library, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); lib.Seq() < uint64(n); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the library holds the stream through %d after a minute, want %d", lib.Seq(), n)
		}
	}
}

// queriesServed returns how many queries the service at url answered, by
// its Prometheus metrics.
func queriesServed(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, v, ok := strings.Cut(sc.Text(), " "); ok && strings.HasPrefix(name, "ctrecon_search_query_seconds_count") {
			c, _ := strconv.Atoi(v)
			n += c
		}
	}
	return n
}

// sameAnswer reports whether got has want's hits (items, kinds and
// distances, in order), total and index.
func sameAnswer(got, want *search.Answer) bool {
	dist := func(h search.Hit) float64 {
		if h.Distance == nil {
			return -1
		}
		return *h.Distance
	}
	return got.Index == want.Index && (got.Total == nil) == (want.Total == nil) && (got.Total == nil || *got.Total == *want.Total) &&
		slices.EqualFunc(got.Hits, want.Hits, func(a, b search.Hit) bool { return a.Key == b.Key && a.Kind == b.Kind && dist(a) == dist(b) })
}

// searchProcesses publishes the records of n series (searchRecords) to a
// new NATS server's FEATURES stream and starts two `ctrecon serve`
// processes on it, with args0 and args1, and an in-process library of
// every record; it returns once both processes and the library hold them.
func searchProcesses(t *testing.T, n int, args0, args1 []string) (b *bus.Bus, srv *bus.Embedded, recs []records.Record,
	lib *search.Library, procs []*exec.Cmd, urls []string) {
	t.Helper()
	bin := buildCtrecon(t)
	b, srv = bustest.Start(t, bus.Config{})
	recs = searchRecords(n)
	bustest.PublishRecords(t, b, recs)
	lib, _ = followSearch(t, b)
	for _, args := range [][]string{args0, args1} {
		cmd, url := startServeProcess(t, bin, srv.ClientURL(), args...)
		procs, urls = append(procs, cmd), append(urls, url)
	}
	for _, u := range urls {
		waitIndexed(t, len(recs), u)
	}
	waitLibrary(t, lib, len(recs))
	return b, srv, recs, lib, procs, urls
}

// Two `ctrecon serve` processes on one NATS server share the queries of 8
// clients in the queue group; one is killed (SIGKILL) under that load:
// every query keeps being answered, and answered as the library answers
// it. A query the killed replica held is asked again by the client
// (search.DefaultRetry: up to 3 tries of 10 s) and the other answers it.
func TestSearchReplicaKilledUnderLoad(t *testing.T) {
	b, _, recs, lib, procs, urls := searchProcesses(t, 60, nil, nil)
	queries := searchQueries(recs)
	wants := make([]*search.Answer, len(queries))
	for i, q := range queries {
		a, err := lib.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		wants[i] = a
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	var answered atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := range 8 {
		wg.Go(func() {
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := queries[i%len(queries)]
				a, err := search.AskNATS(ctx, b.Conn(), q)
				if err != nil {
					t.Errorf("client %d, query %d: %v", c, i, err)
					return
				}
				if !sameAnswer(a, wants[i%len(queries)]) {
					t.Errorf("client %d: %+v answered %+v, want %+v", c, q, a, wants[i%len(queries)])
					return
				}
				answered.Add(1)
			}
		})
	}
	waitAnswered := func(n int64) {
		for answered.Load() < n && ctx.Err() == nil && !t.Failed() {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAnswered(400)
	for i, u := range urls {
		if queriesServed(t, u) == 0 {
			t.Errorf("replica %d answered none of the first 400 queries", i)
		}
	}
	if err := procs[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs[0].Wait()
	killedAt := answered.Load()
	waitAnswered(killedAt + 400)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%d queries answered, %d since the kill, before the guard's 3 minutes", answered.Load(), answered.Load()-killedAt)
	}
	t.Logf("%d queries answered, %d after replica 0 was killed", answered.Load(), answered.Load()-killedAt)
}

// Two `ctrecon serve --search-shard I/2` processes each index the series
// of their half of the library; `ctrecon search --nats`, answered by
// either through the fan-out, prints the whole library's hits and what
// each shard served, and so does --http to either shard's API. A shard that is not I/N is refused by its flag.
func TestSearchShardProcesses(t *testing.T) {
	_, srv, recs, lib, _, urls := searchProcesses(t, 40, []string{"--search-shard", "0/2"}, []string{"--search-shard", "1/2"})
	for i, q := range searchQueries(recs)[:4] {
		want, err := lib.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		// Over NATS, and over HTTP to either shard's API.
		ask := [][]string{{"--nats", srv.ClientURL()}, {"--http", urls[i%2]}}[i%2]
		out, _ := captureOutput(t, func() error {
			return runSearch(append(ask, "--like", q.Like, "--k", "5", "--json"))
		})
		var got search.Answer
		if err := json.Unmarshal([]byte(out), &got); err != nil || !sameAnswer(&got, want) || len(got.Shards) != 2 {
			t.Errorf("search %v --like %s over two shards printed %s (%v), want the hits of %+v from both shards", ask, q.Like, out, err, want.Hits)
		}
	}
	out, _ := captureOutput(t, func() error {
		return runSearch([]string{"--nats", srv.ClientURL(), "--filter", "slice = -1", "--limit", "50"})
	})
	if !strings.Contains(out, "40 hits of 40, by sqlite") || !strings.Contains(out, "shard 0/2: by sqlite") || !strings.Contains(out, "shard 1/2: by sqlite") {
		t.Errorf("search --filter over two shards printed\n%s\nwant 40 hits of 40 and a line per shard", out)
	}
	err := runServe([]string{"--search-shard", "2/2"})
	if err == nil || !strings.Contains(err.Error(), `--search-shard: shard "2/2": want I/N`) {
		t.Errorf("serve --search-shard 2/2: %v, want an error naming the flag", err)
	}
}
