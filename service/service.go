// Package service runs what `ctrecon serve` runs in one process: workers
// that pull jobs from the bus, the search library (package search) that
// follows the features stream, and the HTTP API (health, Prometheus
// metrics, jobs, search), started together and stopped in order.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/search"
)

// Config says what a Service runs.
type Config struct {
	// Dir holds the workers' copies of streamed scans and the outputs of
	// jobs that name no output folder (recon.Worker.Dir).
	Dir string
	// Workers is how many workers the process runs (0: 1).
	Workers int
	// Jobs is how many jobs each worker holds at once (0:
	// recon.DefaultJobs).
	Jobs int
	// Backprojector is the device the workers back-project on (nil: the
	// CPU). The caller opens it and releases it after Close.
	Backprojector fdk.Backprojector
	// Log receives the workers' and the index's logs (nil: slog.Default()).
	Log *slog.Logger
	// Search configures the search library; its Dir defaults to
	// Dir/search, and its Log to Log.
	Search search.Config
	// SearchHTTP configures the search API (its bearer token); its
	// SeriesDir defaults to finding the series the workers wrote under
	// Dir/out, for the page's thumbnails.
	SearchHTTP search.HTTPOptions
	// SnapshotEvery is how often the search library is snapshotted while
	// records come in (0: DefaultSnapshotEvery); Close snapshots it too.
	SnapshotEvery time.Duration
}

// DefaultSnapshotEvery is how often the search library is snapshotted by
// default: a restart replays at most this much of the FEATURES stream.
const DefaultSnapshotEvery = 5 * time.Minute

// Service is a running set of workers, the search index and the HTTP API.
type Service struct {
	cancel  context.CancelFunc // stops the workers, the index and HTTP
	bus     *bus.Bus
	workers []*recon.Worker
	search  *search.Library
	follow  *search.Follower
	micro   micro.Service // the search library on NATS
	http    *http.Server
	addr    string
	token   string // the search API's bearer token, for Demo
	log     *slog.Logger
	wg      sync.WaitGroup
}

// Start opens the search library (from its snapshot, if it has one),
// starts cfg's workers and the library's follower on b, serves the library
// as a NATS micro service (search.ServeNATS) on b and the HTTP API on ln, until ctx ends or Close is called. The caller listens
// first, so that an address in use stops it before any worker takes a job;
// the Service closes ln, and b stays the caller's to close after Close. An
// error opening the library closes ln and starts nothing.
func Start(ctx context.Context, b *bus.Bus, ln net.Listener, cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Backprojector == nil {
		cfg.Backprojector = fdk.CPU{}
	}
	if cfg.Search.Dir == "" {
		cfg.Search.Dir = filepath.Join(cfg.Dir, "search")
	}
	if cfg.Search.Log == nil {
		cfg.Search.Log = cfg.Log
	}
	if cfg.SearchHTTP.SeriesDir == nil { // thumbnails from the workers' series
		cfg.SearchHTTP.SeriesDir = newSeriesFolders(filepath.Join(cfg.Dir, "out")).find
	}
	if cfg.SearchHTTP.Log == nil {
		cfg.SearchHTTP.Log = cfg.Log
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	lib, err := search.Open(ctx, cfg.Search)
	if err != nil {
		ln.Close()
		return nil, err
	}
	svc, err := lib.ServeNATS(b.Conn(), cfg.Log)
	if err != nil {
		lib.Close()
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Service{cancel: cancel, bus: b, search: lib, addr: ln.Addr().String(), token: cfg.SearchHTTP.Token, log: cfg.Log,
		follow: &search.Follower{Library: lib, Bus: b, SnapshotEvery: cfg.SnapshotEvery}, micro: svc}
	metrics := recon.NewMetrics()
	for i := range max(cfg.Workers, 1) {
		w := &recon.Worker{Bus: b, Dir: cfg.Dir, Backprojector: cfg.Backprojector, Jobs: cfg.Jobs, Log: cfg.Log.With("worker", i), Metrics: metrics,
			Name: recon.WorkerName(i)}
		s.workers = append(s.workers, w)
		s.wg.Go(func() { w.Run(ctx) })
	}
	s.wg.Go(func() {
		if err := s.follow.Run(ctx); err != nil {
			cfg.Log.Error("search: following the features stream stopped", "err", err)
		}
	})
	reg := s.registry(metrics, cfg.Backprojector.Name())
	s.http = &http.Server{Handler: s.routes(reg, lib.Handler(cfg.SearchHTTP)), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { s.http.Serve(ln) })
	s.wg.Go(func() { <-ctx.Done(); s.http.Close() })
	cfg.Log.Info("serving", "http", "http://"+s.addr, "workers", len(s.workers), "device", cfg.Backprojector.Name(),
		"search", cfg.Search.Dir, "search_snapshot_sequence", lib.Seq())
	return s, nil
}

// Addr is the HTTP API's address, host:port.
func (s *Service) Addr() string { return s.addr }

// Close stops the workers, the index and HTTP, snapshots the search
// library and closes it, and returns once they have stopped; a worker's
// running job is redelivered after the ack wait.
func (s *Service) Close() {
	s.micro.Stop()
	s.cancel()
	s.wg.Wait()
	if err := s.search.Snapshot(context.Background()); err != nil {
		s.log.Warn("search: snapshot on close", "err", err)
	}
	s.search.Close()
}

// routes: /healthz, /metrics (Prometheus text: what reg gathers), /jobs,
// /jobs/{id}, and the search API (/search, /search/..., /openapi.json)
// and page (/, /web/).
func (s *Service) routes(reg prometheus.Gatherer, searchAPI http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.bus.Conn().IsConnected() {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.bus.ListStatus(r.Context())
		writeJSON(w, list, err)
	})
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.bus.GetStatus(r.Context(), r.PathValue("id"))
		writeJSON(w, st, err)
	})
	mux.HandleFunc("DELETE /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		by := r.URL.Query().Get("by")
		if by == "" {
			by = "HTTP client " + r.RemoteAddr
		}
		st, err := recon.Cancel(r.Context(), s.bus, r.PathValue("id"), by)
		writeJSON(w, st, err)
	})
	mux.Handle("/search", searchAPI)
	mux.Handle("/search/", searchAPI)
	mux.Handle("GET /openapi.json", searchAPI)
	mux.Handle("GET /{$}", searchAPI) // the search page
	mux.Handle("GET /web/", searchAPI)
	return mux
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	code := http.StatusInternalServerError
	switch {
	case err == nil:
		json.NewEncoder(w).Encode(v)
		return
	case errors.Is(err, bus.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, recon.ErrOver):
		code = http.StatusConflict
	case errors.Is(err, bus.ErrInvalidID):
		code = http.StatusBadRequest
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
