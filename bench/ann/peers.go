package ann

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctrecon/ctrecon/index"
)

//go:embed peers.py
var peersScript []byte

// Python is the interpreter that has Debian's python3-hnswlib and
// python3-faiss (make deps installs them).
const Python = "/usr/bin/python3"

// PeerTools are the peers Compare knows.
var PeerTools = []string{"hnswlib", "faiss"}

// BatchTool is the tool name of ctrecon's HNSW timed through
// index.SearchAll (one SearchBatch call per round for all queries, as the
// peers are timed through one batch call from Python); "ctrecon" is the
// same index timed through one Index.Search call per query.
const BatchTool = "ctrecon batch"

// Comparison says how Compare measures ctrecon's HNSW against the peers.
type Comparison struct {
	// Peers are some of PeerTools; nil: all.
	Peers []string
	// M and EfConstruction build every tool's graph; each tool searches
	// with each Ef.
	M, EfConstruction int
	Ef                []int
	// Each tool searches the queries with each ef in turn, Rounds times
	// (default 3), each round for at least RoundTime of CPU time; the
	// best round gives the QPS, the first the recall.
	Rounds    int
	RoundTime time.Duration
}

// Compare builds ctrecon's HNSW index and each peer's of base, one after
// another, each on one thread (the peers in a Python process on the same
// vectors, written to .fvecs files), then searches queries with each ef,
// the tools taking turns, and measures the answers against truth. The
// tools' rounds alternate so that a machine shared with other work slows
// each the same. The metric must be Euclidean or cosine. ctrecon's index
// is searched two ways: one Index.Search call per query (tool "ctrecon")
// and one SearchAll call for all queries (BatchTool), as each peer is
// searched (one call from Python per round). The results are ctrecon's
// sweep per query, then in batches, then each peer's.
func Compare(ctx context.Context, base, queries *Set, truth *Truth, c Comparison) ([]Result, error) {
	if name := truth.Metric.Name(); name != index.Euclidean.Name() && name != index.Cosine.Name() {
		return nil, fmt.Errorf("the peers measure Euclidean and cosine distances, not %s", name)
	}
	if c.Peers == nil {
		c.Peers = PeerTools
	}
	c.Rounds = max(c.Rounds, 1)
	dir, err := os.MkdirTemp("", "ctrecon-peers-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p, err := startPeers(ctx, dir, base, queries, truth.Metric)
	if err != nil {
		return nil, err
	}
	defer p.close()

	params := func(ef int) map[string]string {
		return map[string]string{"M": strconv.Itoa(c.M), "efConstruction": strconv.Itoa(c.EfConstruction), "ef": strconv.Itoa(ef)}
	}
	kind, err := index.KindNamed("hnsw")
	if err != nil {
		return nil, err
	}
	bp, err := kind.BuildParams(params(0))
	if err != nil {
		return nil, err
	}
	restore := runtime.GOMAXPROCS(1)
	x, bt, bytes, err := build(kind, bp, base, truth.Metric)
	runtime.GOMAXPROCS(restore)
	if err != nil {
		return nil, err
	}
	own := peerBuild{BuildS: bt.wall, BuildCPUS: bt.cpu, BytesPerVector: bytes}
	builds := map[string]peerBuild{"ctrecon": own, BatchTool: own}
	for _, tool := range c.Peers {
		var b peerBuild
		if err := p.request(map[string]any{"cmd": "build", "tool": tool, "M": c.M, "efc": c.EfConstruction, "seed": 100}, &b); err != nil {
			return nil, err
		}
		builds[tool] = b
	}

	tools := append([]string{"ctrecon", BatchTool}, c.Peers...)
	best := map[string][]Result{}
	for _, ef := range c.Ef {
		for round := range c.Rounds {
			for _, tool := range tools {
				r, err := c.searchRound(p, x, tool, ef, dir, base, queries, truth)
				if err != nil {
					return nil, err
				}
				r.Index, r.Params = "hnsw", fullParams(kind, params(ef))
				if tool != "faiss" {
					// ef below k: hnswlib keeps max(ef, k) too, and x's ef is
					// ef since the ctrecon tools come first; faiss 1.7.3
					// searches with the ef given (its recall at ef=2 is far
					// below that at ef=10)
					r.Adjusted = x.(index.Adjuster).Adjusted(truth.K)
				}
				r.Warnings = warnings(r)
				if slices.Contains(PeerTools, tool) {
					delete(r.Params, "seed")
				}
				b := builds[tool]
				r.BuildS, r.BuildWallS, r.BytesPerVector = b.BuildCPUS, b.BuildS, b.BytesPerVector
				rs := best[tool]
				switch {
				case round == 0:
					best[tool] = append(rs, r)
				case r.QPS > rs[len(rs)-1].QPS: // keep the first round's recall
					rs[len(rs)-1].QPS, rs[len(rs)-1].WallQPS = r.QPS, r.WallQPS
				}
			}
		}
	}
	var out []Result
	for _, tool := range tools {
		out = append(out, best[tool]...)
	}
	return out, nil
}

// searchRound searches every query once or more with ef in tool's index.
func (c Comparison) searchRound(p *peers, x index.Index, tool string, ef int, dir string, base, queries *Set, truth *Truth) (Result, error) {
	if tool == "ctrecon" || tool == BatchTool {
		if err := x.(index.Tuner).SetParam("ef", strconv.Itoa(ef)); err != nil {
			return Result{}, err
		}
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		var found [][]int
		var t timing
		if tool == BatchTool {
			found, t = searchAll(x, queries, truth.K, c.RoundTime)
		} else {
			found, t = search(x, queries, truth.K, c.RoundTime)
		}
		return result(tool, "hnsw", base, queries, truth, found, t), nil
	}
	ids := filepath.Join(dir, tool+".ivecs")
	var s peerSearch
	err := p.request(map[string]any{"cmd": "search", "tool": tool, "ef": ef, "k": truth.K, "min_time": c.RoundTime.Seconds(), "ids": ids}, &s)
	if err != nil {
		return Result{}, err
	}
	rows, err := readIvecs(ids)
	if err != nil {
		return Result{}, err
	}
	if len(rows) != queries.Len() {
		return Result{}, fmt.Errorf("%s answered %d of the %s", tool, len(rows), Count(queries.Len(), "query"))
	}
	found := make([][]int, len(rows))
	for q, row := range rows {
		for _, id := range row {
			found[q] = append(found[q], int(id))
		}
	}
	return result(tool, "hnsw", base, queries, truth, found, timing{wall: s.Seconds, cpu: s.CPUS, rounds: s.QueriesRun / queries.Len()}), nil
}

// peerBuild and peerSearch are the peers script's answers.
type peerBuild struct {
	BuildS         float64 `json:"build_s"`
	BuildCPUS      float64 `json:"build_cpu_s"`
	BytesPerVector float64 `json:"bytes_per_vector"`
}

type peerSearch struct {
	Seconds    float64 `json:"seconds"`
	CPUS       float64 `json:"cpu_s"`
	QueriesRun int     `json:"queries_run"`
}

// peers is the running peers script.
type peers struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr strings.Builder
}

// startPeers writes base and queries to dir and starts the peers script on
// them.
func startPeers(ctx context.Context, dir string, base, queries *Set, m index.Metric) (*peers, error) {
	script := filepath.Join(dir, "peers.py")
	if err := os.WriteFile(script, peersScript, 0o644); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		s    *Set
		name string
	}{{base, "base.fvecs"}, {queries, "queries.fvecs"}} {
		if err := f.s.WriteFvecs(filepath.Join(dir, f.name)); err != nil {
			return nil, err
		}
	}
	p := &peers{cmd: exec.CommandContext(ctx, Python, script,
		filepath.Join(dir, "base.fvecs"), filepath.Join(dir, "queries.fvecs"), m.Name())}
	p.cmd.Stderr = &p.stderr
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewScanner(stdout)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the peers with %s: %w", Python, err)
	}
	return p, nil
}

// request sends req and decodes the answer into out.
func (p *peers) request(req map[string]any, out any) error {
	b, _ := json.Marshal(req)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return p.failed(err)
	}
	if !p.out.Scan() {
		return p.failed(errors.New("no answer"))
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(p.out.Bytes(), &e); err != nil {
		return fmt.Errorf("the peers script answered %q: %w", p.out.Text(), err)
	}
	if e.Error != "" {
		if strings.Contains(e.Error, "ModuleNotFoundError") {
			e.Error += " (install python3-hnswlib and python3-faiss: make deps)"
		}
		return fmt.Errorf("the peers script, asked %s: %s", b, e.Error)
	}
	return json.Unmarshal(p.out.Bytes(), out)
}

// failed returns err with what the script wrote to stderr, once it ended.
func (p *peers) failed(err error) error {
	p.in.Close()
	p.cmd.Wait()
	msg := strings.TrimSpace(p.stderr.String())
	if strings.Contains(msg, "ModuleNotFoundError") {
		msg += " (install python3-hnswlib and python3-faiss: make deps)"
	}
	return fmt.Errorf("the peers script (%s): %w: %s", Python, err, msg)
}

func (p *peers) close() {
	p.in.Close()
	p.cmd.Wait()
}
