// Command ctrecon reconstructs cone-beam CT scans with FDK.
//
// main only wires: each subcommand parses its flags and calls the packages
// that carry the logic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"

	"github.com/ctrecon/ctrecon/internal/progress"
)

type command struct {
	name, summary string
	run           func(args []string) error
}

var commands = []command{
	{"phantom", "write the exact projections of an analytic phantom as a projection folder", runPhantom},
	{"recon", "reconstruct a spectral scan into DICOM, or a plastimatch folder into a MetaImage volume, with FDK", runRecon},
	{"calibrate", "reconstruct a scan of calibration vials and fit the material calibration to them", runCalibrate},
	{"demo", "simulate a Shepp-Logan scan, reconstruct it, report accuracy and speed", runDemo},
	{"serve", "run NATS (embedded unless --nats), workers, the search index and HTTP in one process", runServe},
	{"setup", "create or update the streams and buckets on a NATS server that runs on its own", runSetup},
	{"worker", "pull jobs from NATS and reconstruct them", runWorker},
	{"acquire", "stream a scan folder (or a simulated scan) to NATS as the scanner does", runAcquire},
	{"submit", "submit a reconstruction job (JSON file or flags) and print its ID", runSubmit},
	{"status", "show one job's state, progress, device and timings", runStatus},
	{"cancel", "cancel a queued, waiting or running job", runCancel},
	{"jobs", "list every job", runJobs},
	{"search", "ask a running service: nearest (--like, --vector), within a distance, by filter, by icons", runSearch},
	{"index", "index bench: measure a similarity index's recall, speed, build time and memory", runIndex},
	{"features", "IBSI radiomics of a CT series' or volume's objects, to Parquet and JSON", runFeatures},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ctrecon <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ctrecon <command> -h' for a command's flags.")
}

// console is stderr as progress bars and log lines share it: bars only
// when it is a terminal (main decides), log lines above them.
var console = progress.NewConsole(os.Stderr, false, nil)

func main() {
	console = progress.NewConsole(os.Stderr, progress.IsTerminal(os.Stderr), nil)
	slog.SetDefault(slog.New(slog.NewTextHandler(console, &slog.HandlerOptions{Level: slog.LevelInfo})))
	code := dispatch(os.Args[1:], console)
	console.Close()
	os.Exit(code)
}

// dispatch runs the command args[0] names with the rest of args, writing
// its error to stderr, and returns the exit status: 0, 1 when the command
// failed, 2 when args name no command (a misspelt one gets the closest
// names) or the command's flags refused them (usageError, one line).
func dispatch(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		usage(stderr)
		return 0
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "ctrecon: unknown command %q\n", args[0])
		if near := closest(args[0]); near != "" {
			fmt.Fprintf(stderr, "did you mean %s?\n", near)
		}
		fmt.Fprintln(stderr)
		usage(stderr)
		return 2
	}
	if err := commands[i].run(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ctrecon %s: %v\n", args[0], err)
		if errors.As(err, new(usageError)) {
			return 2
		}
		return 1
	}
	return 0
}

// closest returns the commands a mistyped name most likely meant: those
// at the smallest Levenshtein distance from it, up to 2, or else those
// that begin with it (as cobra suggests), joined by "or".
func closest(name string) string {
	name = strings.ToLower(name)
	var near, prefixed []string
	best := 2
	for _, c := range commands {
		switch d := levenshtein.ComputeDistance(name, c.name); {
		case d < best:
			near, best = []string{c.name}, d
		case d == best:
			near = append(near, c.name)
		}
		if name != "" && strings.HasPrefix(c.name, name) {
			prefixed = append(prefixed, c.name)
		}
	}
	if len(near) == 0 {
		near = prefixed
	}
	if len(near) < 2 {
		return strings.Join(near, "")
	}
	return strings.Join(near[:len(near)-1], ", ") + " or " + near[len(near)-1]
}
