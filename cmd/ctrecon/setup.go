package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/dirlock"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/search"
	"github.com/ctrecon/ctrecon/service"
)

// runServe runs NATS (embedded unless --nats), sets up the deployment, and
// runs the service (workers, the search index, HTTP) until interrupted,
// or with --demo streams a simulated scan through it and exits.
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
	demo := fs.Bool("demo", false, "stream a simulated spectral scan through the whole path, print where the DICOM went and search results, and exit")
	token := fs.String("search-token", os.Getenv("CTRECON_SEARCH_TOKEN"), "bearer token the search API wants (default $CTRECON_SEARCH_TOKEN; none: open to whoever reaches --http)")
	searchIndex := fs.String("search-index", "auto", "vector index of every feature kind: auto (exact while small, then hnsw), exact, hnsw, ...")
	searchShard := fs.String("search-shard", "", "I/N: index only shard I of N of the library (by series) and answer search over NATS for all N by asking every shard")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := checkWorkers(*workers); err != nil {
		return err
	}
	var shard search.Shard
	if *searchShard != "" {
		var err error
		if shard, err = search.ParseShard(*searchShard); err != nil {
			return fmt.Errorf("--search-shard: %w", err)
		}
	}
	if n.url != "" {
		if err := refuseGiven(fs, "the embedded server's port; --nats URL uses a server of its own", "nats-port"); err != nil {
			return err
		}
	}
	lock, err := dirlock.Acquire(*data)
	if err != nil {
		return fmt.Errorf("--data: %w\ngive another --data, or stop that serve first", err)
	}
	defer lock.Release()
	ctx, stop := signalContext()
	defer stop()
	if n.url == "" {
		srv, err := n.embedded(ctx, *data, *port)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		slog.Info("embedded NATS", "url", n.url, "data", filepath.Join(*data, "nats"))
	}
	ln, err := listenHTTP(*httpAddr)
	if err != nil {
		return err
	}
	b, err := n.setup(ctx, "ctrecon-serve", serviceWait, d.config())
	if err != nil {
		ln.Close()
		return err
	}
	defer b.Close()
	bp, release, err := openDevice(*device, *threads)
	if err != nil {
		ln.Close()
		return err
	}
	defer release()
	searchHTTP := search.HTTPOptions{Token: *token}
	if shard.Count > 0 { // the API and page search every shard
		searchHTTP.Searcher = &search.Fanout{Conn: b.Conn(), Shards: shard.Count}
	}
	s, err := service.Start(ctx, b, ln, service.Config{Dir: filepath.Join(*data, "worker"), Workers: *workers, Jobs: *jobs, Backprojector: bp,
		Search: search.Config{Dir: filepath.Join(*data, "search"), Index: *searchIndex, Shard: shard}, SearchHTTP: searchHTTP})
	if err != nil {
		return err
	}
	defer s.Close()
	if *token == "" {
		slog.Warn("the search API has no token: anyone who reaches --http can search; set one with --search-token or CTRECON_SEARCH_TOKEN")
	} else {
		slog.Info("the search API wants the header Authorization: Bearer TOKEN; ctrecon search sends $CTRECON_SEARCH_TOKEN")
	}
	if *demo {
		if err := s.Demo(ctx, filepath.Join(*data, "demo-scan"), os.Stdout, jobProgress()); err != nil {
			return err
		}
		slog.Info("the demo's service stops now; to browse its library, serve it again and open the page's URL at that address",
			"command", fmt.Sprintf("ctrecon serve --data %s --http 127.0.0.1:8080", *data))
		return nil
	}
	<-ctx.Done()
	return nil
}

// listenHTTP listens on --http's address, before anything else starts.
func listenHTTP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("--http %s: %w\ngive another address with --http (127.0.0.1:0 for any free port)", addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	return ln, nil
}

// runSetup creates or updates the streams, the workers consumer and the
// buckets on a NATS server or cluster that runs on its own; serve does the
// same for its embedded server. Settings not given on the command line keep
// what the deployment has.
func runSetup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	var n natsFlags
	n.register(fs, defaultNATS)
	var d deployFlags
	d.register(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	b, err := n.setup(ctx, "ctrecon-setup", clientWait, d.config())
	if err != nil {
		return err
	}
	b.Close()
	fmt.Printf("set up for ctrecon: streams %s, %s and %s, consumer %s, buckets %s and %s\n",
		bus.StreamScans, bus.StreamJobs, bus.StreamFeatures, bus.ConsumerWorkers, bus.BucketStatus, bus.BucketProjections)
	return nil
}
