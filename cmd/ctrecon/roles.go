package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"sync"
	"syscall"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/internal/progress"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/search"
	"github.com/ctrecon/ctrecon/sinogram"
)

const defaultNATS = "nats://127.0.0.1:4222"

// signalContext returns a context that ends at SIGINT or SIGTERM (what
// kill, systemd and container runtimes send), so that every command stops
// as at an interrupt: the reconstruction within moments, and what it
// staged removed.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runWorker runs workers against a NATS server until interrupted.
func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var n natsFlags
	n.register(fs, defaultNATS)
	dir := fs.String("data", "ctrecon-worker", "folder for streamed scans and outputs of jobs that name none")
	count := fs.Int("workers", 1, "workers in this process")
	jobs := fs.Int("jobs", recon.DefaultJobs, jobsUsage)
	device := fs.String("device", "auto", "back-projection device: auto, cpu or cuda")
	threads := fs.Int("threads", 0, "CPU threads per worker (0: all cores)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := checkWorkers(*count); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	b, err := n.lookup(ctx, "ctrecon-worker", serviceWait)
	if err != nil {
		return err
	}
	defer b.Close()
	bp, release, err := openDevice(*device, *threads)
	if err != nil {
		return err
	}
	defer release()
	var wg sync.WaitGroup
	for i := range *count {
		w := &recon.Worker{Bus: b, Dir: *dir, Backprojector: bp, Jobs: *jobs, Log: slog.With("worker", i),
			Name: recon.WorkerName(i)}
		wg.Go(func() { w.Run(ctx) })
	}
	slog.Info("workers running", "nats", n.url, "workers", *count, "device", bp.Name())
	wg.Wait()
	return nil
}

// jobsUsage describes --jobs of worker and serve.
const jobsUsage = "jobs each worker holds at once: it takes another only while all it holds wait for their scan to start"

// runAcquire streams a scan folder (or a simulated one) as the scanner does.
func runAcquire(args []string) error {
	fs := flag.NewFlagSet("acquire", flag.ContinueOnError)
	var n natsFlags
	n.register(fs, defaultNATS)
	in := fs.String("i", "", "scan folder to stream (native format)")
	simulate := fs.Bool("simulate", false, "simulate a spectral scan and stream it")
	views := fs.Int("views", 180, "--simulate: views")
	scanID := fs.String("scan-id", "", "stream the scan under this ID (default: the manifest's; SIM-<time> for --simulate)")
	pace := fs.Duration("pace", 0, "time between views, as the scanner takes them (0: as fast as acknowledged)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if !*simulate {
		if err := refuseGiven(fs, "only with --simulate", "views"); err != nil {
			return err
		}
	}
	if *simulate == (*in != "") {
		return fmt.Errorf("give -i SCAN_DIR or --simulate")
	}
	ctx, stop := signalContext()
	defer stop()
	b, err := n.connect(ctx, "ctrecon-acquire") // before simulating: no server fails in seconds
	if err != nil {
		return err
	}
	defer b.Close()
	dir := *in
	if *simulate {
		if dir, err = simulateScan(*views); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	var bar *progress.Bar
	opts := recon.AcquireOptions{Pace: *pace, ScanID: *scanID,
		Started: func(id string) { fmt.Printf("streaming scan %s\n", id) },
		Progress: func(done, total int) {
			if bar == nil {
				bar = console.New("acquire", "views", total)
			}
			bar.Set(done)
		}}
	id, err := recon.Acquire(ctx, b, dir, opts)
	if err != nil {
		return err
	}
	fmt.Printf("streamed scan %s\n", id)
	return nil
}

// simulateScan simulates a scan of views views into a new temporary
// folder, for the caller to remove.
func simulateScan(views int) (string, error) {
	dir, err := os.MkdirTemp("", "ctrecon-simulated-")
	if err != nil {
		return "", err
	}
	spec := scansim.DefaultSpec()
	spec.Views, spec.ScanID = views, "SIM-"+time.Now().UTC().Format("20060102-150405")
	if err := scansim.Simulate(dir, spec); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("--simulate: %w", err)
	}
	return dir, nil
}

// runSubmit submits a job: a JSON spec, or a scan folder with recon flags
// (uploaded to the object store), or a streamed scan by its ID.
func runSubmit(args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	var n natsFlags
	n.register(fs, defaultNATS)
	in := fs.String("i", "", "scan folder to upload and reconstruct")
	scanID := fs.String("scan", "", "ID of a scan streamed by 'ctrecon acquire'")
	fs.String("id", "", "job ID (default: a new one); also the deduplication key")
	fs.String("o", "", "output folder on the worker (default: the worker's own, per job)")
	fs.String("bins", "", "energy bins to reconstruct (default all)")
	fs.Bool("mha", false, "also write each bin's attenuation (1/mm) and each material map as MetaImage volumes in the job's output folder on the worker")
	fs.String("pacs", "", "DICOMweb root to upload the series to")
	fs.Duration("pacs-timeout", 0, fmt.Sprintf("--pacs: time the upload may spend retrying transient failures, in all (0: %v)", pacs.DefaultRetryBudget))
	fs.Duration("scan-wait", 0, fmt.Sprintf("--scan: fail the job when the scan sends nothing new for this long (0: %v)", recon.DefaultScanWait))
	wait := fs.Bool("wait", false, "show progress until the job is done, failed or cancelled")
	fs.String("slabs", "1", "split the volume along z into this many slabs, each a task for any worker; auto, with --max-memory: one per slab of the budget")
	registerReconFlags(fs)
	registerMaterialFlags(fs)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	job, set, err := jobFromArgs(fs, *in, *scanID)
	if err != nil {
		return err
	}
	var scan *sinogram.Scan
	if *in != "" { // checked before it is uploaded
		if scan, err = sinogram.ReadScan(*in); err != nil {
			return err
		}
		if err := recon.Check(scan, *job); err != nil {
			return set.name(err)
		}
	}
	b, err := n.connect(ctx, "ctrecon-submit")
	if err != nil {
		return err
	}
	defer b.Close()
	if scan != nil {
		folder, err := bus.FolderName(scan.ScanID, *in)
		if err != nil {
			return err
		}
		if _, err := b.PutFolder(ctx, folder, *in); err != nil {
			return err
		}
		job.Input, job.Folder = "", folder
	}
	jobID, dup, err := recon.Submit(ctx, b, *job)
	if err != nil {
		return set.name(err)
	}
	fmt.Println(jobID)
	if dup {
		st, err := b.GetStatus(ctx, jobID)
		if err != nil {
			return err
		}
		again := ""
		if st.State.Final() {
			again = "; give another --id to run it again"
		}
		fmt.Fprintf(os.Stderr, "job %s exists already, not queued again: %s%s\n", jobID, stateLine(st), again)
	}
	if !*wait {
		return nil
	}
	return waitJob(ctx, b, jobID)
}

// jobFromArgs builds the job to submit: from the JSON file given, with the
// job flags given on the command line overriding its fields (-i or --scan
// its scan), or from the flags alone. It returns the fields that flags set,
// which name their flags in errors.
func jobFromArgs(fs *flag.FlagSet, in, scanID string) (*recon.Job, flagFields, error) {
	if in != "" && scanID != "" {
		return nil, nil, fmt.Errorf("-i %s and --scan %s: give one scan", in, scanID)
	}
	job := &recon.Job{}
	switch {
	case fs.NArg() == 1:
		var err error
		if job, err = recon.ReadJob(fs.Arg(0)); err != nil {
			return nil, nil, err
		}
		if in != "" || scanID != "" {
			job.Input, job.ScanID, job.Folder = "", "", ""
		}
	case in == "" && scanID == "":
		return nil, nil, fmt.Errorf("give a job file, -i SCAN_DIR or --scan ID")
	}
	set, err := setJob(fs, job, fs.NArg() == 1)
	return job, set, err
}

// stateLine says where a job stands: its state, how far it is, where it
// runs and why it failed.
func stateLine(st bus.Status) string {
	line := string(st.State)
	if st.State == bus.StateRunning {
		line += fmt.Sprintf(", %.0f%% done", 100*st.Progress)
	}
	if st.Slabs > 0 {
		line += fmt.Sprintf(", %d of %d slabs done", st.SlabsDone, st.Slabs)
	}
	if st.Device != "" {
		line += " on " + st.Device
	}
	if st.Reason != "" {
		line += ": " + st.Reason
	}
	return line
}

// waitJob shows the job's progress until it is done, failed or cancelled;
// for a failed job, what it had made by then (its warnings, a kept output)
// before the error.
func waitJob(ctx context.Context, b *bus.Bus, id string) error {
	st, err := recon.Wait(ctx, b, id, jobProgress())
	if err != nil {
		if st.State == bus.StateFailed {
			recon.WriteStatus(os.Stdout, st)
		}
		return err
	}
	fmt.Printf("job %s done on %s\n", id, st.Device)
	return recon.WriteStatus(os.Stdout, st)
}

// jobProgress returns a function that shows a job's statuses as progress
// on stderr, with a line when the job starts waiting for its scan.
func jobProgress() func(bus.Status) {
	var bar *progress.Bar
	var last bus.State
	slabsDone := 0
	return func(st bus.Status) {
		if bar == nil {
			bar = console.New("job "+st.ID, "%", 100)
		}
		if st.State == bus.StateWaiting && last != bus.StateWaiting {
			fmt.Fprintf(console, "job %s %s\n", st.ID, st.Reason)
		}
		if st.Slabs > 0 && st.SlabsDone != slabsDone {
			slabsDone = st.SlabsDone
			fmt.Fprintf(console, "job %s: %d of %d slabs done\n", st.ID, st.SlabsDone, st.Slabs)
		}
		last = st.State
		if st.State == bus.StateDone {
			st.Progress = 1
		}
		bar.Set(int(100 * st.Progress))
	}
}

// runCancel cancels a queued, waiting or running job.
func runCancel(args []string) error {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	var n natsFlags
	n.register(fs, defaultNATS)
	by := fs.String("by", whoami(), "who cancels, as the job's status will say")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: ctrecon cancel [--by NAME] JOB_ID")
	}
	ctx, stop := signalContext()
	defer stop()
	b, err := n.connect(ctx, "ctrecon-cancel")
	if err != nil {
		return err
	}
	defer b.Close()
	st, err := recon.Cancel(ctx, b, fs.Arg(0), *by)
	if err != nil {
		return err
	}
	fmt.Printf("job %s %s\n", st.ID, st.Reason)
	return nil
}

// whoami names the user and host, for a cancel's record.
func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// runStatus prints one job's status, runJobs every job's.
func runStatus(args []string) error { return listJobs("status", args, true) }
func runJobs(args []string) error   { return listJobs("jobs", args, false) }

func listJobs(name string, args []string, one bool) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var n natsFlags
	n.register(fs, defaultNATS)
	positional := 0
	if one {
		positional = 1
	}
	if err := parseFlags(fs, args, positional); err != nil {
		return err
	}
	if one && fs.NArg() != 1 {
		return fmt.Errorf("usage: ctrecon status JOB_ID")
	}
	ctx, stop := signalContext()
	defer stop()
	b, err := n.connect(ctx, "ctrecon-"+name)
	if err != nil {
		return err
	}
	defer b.Close()
	var list []bus.Status
	if one {
		st, err := b.GetStatus(ctx, fs.Arg(0))
		if errors.Is(err, bus.ErrNotFound) {
			return fmt.Errorf("no job %s (ctrecon jobs lists them)", fs.Arg(0))
		}
		if err != nil {
			return err
		}
		list = []bus.Status{st}
	} else if list, err = b.ListStatus(ctx); err != nil {
		return err
	}
	fmt.Printf("%-32s %-9s %5s  %-18s %s\n", "JOB", "STATE", "PROG", "DEVICE", "REASON")
	for _, st := range list {
		fmt.Printf("%-32s %-9s %4.0f%%  %-18s %s\n", st.ID, st.State, 100*st.Progress, st.Device, st.Reason)
		if err := recon.WriteStatus(os.Stdout, st); err != nil {
			return err
		}
	}
	return nil
}

// ask sends q over NATS when n names a server, else over HTTP, and
// returns the answer as JSON and decoded.
func ask(ctx context.Context, n natsFlags, c search.Client, q search.Query) ([]byte, *search.Answer, error) {
	if n.url == "" {
		return c.Search(ctx, q)
	}
	b, err := n.connect(ctx, "ctrecon-search")
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	a, err := search.AskNATS(ctx, b.Conn(), q)
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(a)
	return body, a, err
}

// searchTransportFlags refuses the flags of the way search does not ask:
// over NATS (overNATS), --http and --token (NATS has its own
// credentials); over HTTP, the NATS credentials.
func searchTransportFlags(fs *flag.FlagSet, overNATS bool) error {
	if overNATS {
		return refuseGiven(fs, "not used with --nats, which asks the service over NATS (with --user, --password, --creds or --tls-*)", "http", "token")
	}
	return refuseGiven(fs, "only with --nats; over HTTP, give --token", "user", "password", "creds", "tls-cert", "tls-key", "tls-ca")
}

// runSearch asks a running service's search API (package search) and
// prints the answer as a table, or as JSON with --json.
func runSearch(args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	var q search.Query
	fs.StringVar(&q.Kind, "kind", "", "feature kind with version (default hist-hu-v1 with --like or --vector)")
	fs.StringVar(&q.Like, "like", "", "the item whose vector is the query: SERIES_UID[/bBIN][/sSLICE][/oOBJECT] (or SERIES_UID:SLICE)")
	vector := fs.String("vector", "", "the query vector, comma-separated")
	fs.IntVar(&q.K, "k", 0, "number of neighbours (default 10)")
	within := fs.Float64("within", -1, "everything within this distance instead of the k nearest")
	fs.StringVar(&q.Filter, "filter", "", "a filter, e.g. \"class = 'contrast' and volume > 500\" (README: the filter language)")
	icons := fs.String("icons", "", "a query by icons: a JSON file of mandatory and optional objects, relations and a threshold")
	fs.IntVar(&q.Limit, "limit", 0, "hits per page (default 20)")
	fs.StringVar(&q.Cursor, "cursor", "", "the next page of an earlier answer (repeat its other flags)")
	server := fs.String("http", "http://127.0.0.1:8080", "the service's HTTP address")
	var n natsFlags
	n.register(fs, "") // --nats URL: ask the service's replicas over NATS instead
	token := fs.String("token", os.Getenv("CTRECON_SEARCH_TOKEN"), "bearer token, when serve has one (default $CTRECON_SEARCH_TOKEN)")
	asJSON := fs.Bool("json", false, "print the service's JSON answer instead of a table")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if q.Like == "" && *vector == "" && *icons == "" && q.Filter == "" {
		return fmt.Errorf("give --like, --vector, --icons FILE or --filter")
	}
	if err := searchTransportFlags(fs, n.url != ""); err != nil {
		return err
	}
	var bad error // 0 means "the default" to the service: given here, it is a mistake
	fs.Visit(func(f *flag.Flag) {
		if bad == nil && (f.Name == "k" && q.K < 1 || f.Name == "limit" && q.Limit < 1 || f.Name == "within" && *within < 0) {
			bad = fmt.Errorf("%s %s: must be positive", dashed(f.Name), f.Value)
		}
	})
	if bad != nil {
		return bad
	}
	if *vector != "" {
		v, err := search.ParseVector(*vector)
		if err != nil {
			return fmt.Errorf("--vector: %w", err)
		}
		q.Vector = v
	}
	if *within >= 0 {
		q.Within = within
	}
	if *icons != "" {
		data, err := os.ReadFile(*icons)
		if err != nil {
			return fmt.Errorf("--icons: %w", err)
		}
		if err := json.Unmarshal(data, &q.Icons); err != nil {
			return fmt.Errorf("--icons %s: not a query by icons: %w", *icons, err)
		}
	}
	if q.Kind == "" && (q.Like != "" || q.Vector != nil) {
		q.Kind = features.KindHistHU
	}
	ctx, stop := signalContext()
	defer stop()
	body, a, err := ask(ctx, n, search.Client{URL: *server, Token: *token}, q)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = os.Stdout.Write(body)
		return err
	}
	return a.WriteTable(os.Stdout)
}
