// Command ctrecon reconstructs cone-beam CT scans with FDK.
//
// main only wires: each subcommand parses its flags and calls the packages
// that carry the logic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
)

type command struct {
	name, summary string
	run           func(args []string) error
}

var commands = []command{
	{"phantom", "write the exact projections of an analytic phantom as a projection folder", runPhantom},
	{"recon", "reconstruct a projection folder with FDK into a MetaImage volume", runRecon},
	{"demo", "simulate a Shepp-Logan scan, reconstruct it, report accuracy and speed", runDemo},
	{"serve", "run NATS (embedded unless --nats), workers, the search index and HTTP in one process", runServe},
	{"setup", "create or update the streams and buckets on a NATS server that runs on its own", runSetup},
	{"worker", "pull jobs from NATS and reconstruct them", runWorker},
	{"acquire", "stream a scan folder (or a simulated scan) to NATS as the scanner does", runAcquire},
	{"submit", "submit a reconstruction job (JSON file or flags) and print its ID", runSubmit},
	{"status", "show one job's state, progress, device and timings", runStatus},
	{"cancel", "cancel a queued, waiting or running job", runCancel},
	{"jobs", "list every job", runJobs},
	{"search", "find the series or slices most like one, from a running service", runSearch},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ctrecon <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'ctrecon <command> -h' for a command's flags.")
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					os.Exit(0)
				}
				fmt.Fprintf(os.Stderr, "ctrecon %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	usage()
	os.Exit(2)
}
