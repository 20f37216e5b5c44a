package main

import (
	"flag"
	"fmt"

	"github.com/ctrecon/ctrecon/bus"
)

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
