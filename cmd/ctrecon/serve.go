package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/recon"
)

// service is what serve runs in one process: the bus, workers, the search
// index and the HTTP server.
type service struct {
	cancel  context.CancelFunc // stops the workers, the index and HTTP
	bus     *bus.Bus
	workers []*recon.Worker
	search  *index.Service
	http    *http.Server
	addr    string
	wg      sync.WaitGroup
}

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var n natsFlags
	n.register(fs, "")
	var d deployFlags
	d.register(fs)
	data := fs.String("data", "ctrecon-data", "folder for the embedded server's JetStream files and the workers' scans and outputs")
	port := fs.Int("nats-port", 4222, "client port of the embedded NATS server, on 127.0.0.1 (-1: any free port)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP listen address (health, metrics, jobs, search)")
	workers := fs.Int("workers", 1, "workers in this process")
	jobs := fs.Int("jobs", recon.DefaultJobs, jobsUsage)
	device := fs.String("device", "auto", "back-projection device: auto, cpu or cuda")
	threads := fs.Int("threads", 0, "CPU threads per worker (0: all cores)")
	demo := fs.Bool("demo", false, "stream a simulated spectral scan through the whole path, print where the DICOM went and a search result, and exit")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if n.url == "" {
		srv, err := n.embedded(ctx, *data, *port)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		slog.Info("embedded NATS", "url", n.url, "data", filepath.Join(*data, "nats"))
	}
	s, err := startService(ctx, &n, d.config(), *data, *httpAddr, workerFlags{*workers, *jobs, *device, *threads})
	if err != nil {
		return err
	}
	defer s.close()
	if *demo {
		return runPipelineDemo(ctx, s, *data)
	}
	<-ctx.Done()
	return nil
}

// workerFlags say how many workers serve runs and on what.
type workerFlags struct {
	workers, jobs int
	device        string
	threads       int
}

// startService listens for HTTP, connects, sets up the deployment with cfg
// and starts the workers, the index and HTTP. It listens first so that a
// port in use stops it before any worker takes a job.
func startService(parent context.Context, n *natsFlags, cfg bus.Config, data, httpAddr string, wf workerFlags) (*service, error) {
	ln, err := net.Listen("tcp", httpAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("--http %s: %w\ngive another address with --http (127.0.0.1:0 for any free port)", httpAddr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", httpAddr, err)
	}
	b, err := n.setup(parent, "ctrecon-serve", serviceWait, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	bp, release, err := backprojector(wf.device, wf.threads)
	if err != nil {
		ln.Close()
		b.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(parent)
	s := &service{cancel: cancel, bus: b, search: index.NewService(), addr: ln.Addr().String()}
	for i := range wf.workers {
		w := &recon.Worker{Bus: b, Dir: filepath.Join(data, "worker"), Backprojector: bp, Jobs: wf.jobs, Log: slog.With("worker", i)}
		s.workers = append(s.workers, w)
		s.wg.Go(func() { w.Run(ctx) })
	}
	s.wg.Go(func() { s.search.Follow(ctx, b, slog.Default()) })
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { s.http.Serve(ln) })
	s.wg.Go(func() { <-ctx.Done(); s.http.Close(); release() })
	slog.Info("serving", "http", "http://"+s.addr, "workers", wf.workers, "device", bp.Name())
	return s, nil
}

func (s *service) close() {
	s.cancel()
	s.wg.Wait()
	s.bus.Close()
}

// routes: /healthz, /metrics (Prometheus text), /jobs, /jobs/{id},
// /search.
func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.bus.Conn().IsConnected() {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", s.metrics)
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
	mux.Handle("GET /search", s.search.Handler())
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

// metrics writes the Prometheus text exposition of the workers' counters
// and the index size.
func (s *service) metrics(w http.ResponseWriter, r *http.Request) {
	var done, failed, retried, cancelled int64
	for _, wk := range s.workers {
		done, failed, retried = done+wk.Done.Load(), failed+wk.Failed.Load(), retried+wk.Retried.Load()
		cancelled += wk.Cancelled.Load()
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP ctrecon_jobs_total Jobs this process's workers settled, by outcome.\n# TYPE ctrecon_jobs_total counter\n")
	fmt.Fprintf(w, "ctrecon_jobs_total{outcome=\"done\"} %d\nctrecon_jobs_total{outcome=\"failed\"} %d\nctrecon_jobs_total{outcome=\"retried\"} %d\nctrecon_jobs_total{outcome=\"cancelled\"} %d\n", done, failed, retried, cancelled)
	fmt.Fprintf(w, "# HELP ctrecon_index_vectors Feature vectors in the search index.\n# TYPE ctrecon_index_vectors gauge\nctrecon_index_vectors %d\n", s.search.Len())
	fmt.Fprintf(w, "# HELP ctrecon_workers Workers in this process.\n# TYPE ctrecon_workers gauge\nctrecon_workers %d\n", len(s.workers))
}
