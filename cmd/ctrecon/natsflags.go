package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ctrecon/ctrecon/bus"
)

// How long a command waits for a NATS server to answer: a client command
// that a person waits on fails soon; a worker or serve --nats may start
// together with its server.
const (
	clientWait  = 3 * time.Second
	serviceWait = 30 * time.Second
)

// natsFlags say how to reach NATS: a URL with its credentials.
type natsFlags struct {
	url, user, password, creds string
	tlsCert, tlsKey, tlsCA     string
}

func (n *natsFlags) register(fs *flag.FlagSet, defaultURL string) {
	fs.StringVar(&n.url, "nats", defaultURL, "NATS server URL(s), comma-separated")
	fs.StringVar(&n.user, "user", "", "NATS user name")
	fs.StringVar(&n.password, "password", "", "NATS password")
	fs.StringVar(&n.creds, "creds", "", "NATS credentials file")
	fs.StringVar(&n.tlsCert, "tls-cert", "", "client certificate for TLS")
	fs.StringVar(&n.tlsKey, "tls-key", "", "client key for TLS")
	fs.StringVar(&n.tlsCA, "tls-ca", "", "certificate authority for TLS")
}

// connect connects a client and looks up the streams, consumer and buckets
// without changing them; it fails within clientWait when no server answers.
func (n *natsFlags) connect(ctx context.Context, name string) (*bus.Bus, error) {
	return n.lookup(ctx, name, clientWait)
}

// lookup connects, waiting up to wait for a server, and looks up the
// deployment.
func (n *natsFlags) lookup(ctx context.Context, name string, wait time.Duration) (*bus.Bus, error) {
	b, err := n.dial(ctx, name, wait)
	if err != nil {
		return nil, err
	}
	if err := b.Lookup(ctx); err != nil {
		b.Close()
		if errors.Is(err, bus.ErrNotSetUp) {
			return nil, fmt.Errorf("%w\ncreate the streams and buckets with `ctrecon serve`, or with `ctrecon setup --nats URL` where NATS runs on its own", err)
		}
		return nil, err
	}
	return b, nil
}

// setup connects, waiting up to wait for a server, and creates or updates
// the streams, consumer and buckets with cfg.
func (n *natsFlags) setup(ctx context.Context, name string, wait time.Duration, cfg bus.Config) (*bus.Bus, error) {
	b, err := n.dial(ctx, name, wait)
	if err != nil {
		return nil, err
	}
	if err := b.Setup(ctx, cfg); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// dial connects, waiting up to wait for a server to answer.
func (n *natsFlags) dial(ctx context.Context, name string, wait time.Duration) (*bus.Bus, error) {
	if n.url == "" {
		return nil, fmt.Errorf("--nats URL is required")
	}
	if err := bus.CheckURLs(n.url); err != nil {
		return nil, fmt.Errorf("--nats %w", err)
	}
	opts := []bus.Option{bus.WithName(name)}
	if n.user != "" {
		opts = append(opts, bus.WithUserPassword(n.user, n.password))
	}
	if n.creds != "" {
		opts = append(opts, bus.WithCredentials(n.creds))
	}
	if n.tlsCert != "" || n.tlsCA != "" {
		opts = append(opts, bus.WithTLS(n.tlsCert, n.tlsKey, n.tlsCA))
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b, err := bus.Connect(cctx, n.url, opts...)
	if errors.Is(err, bus.ErrUnreachable) && ctx.Err() == nil {
		return nil, fmt.Errorf("%w\nstart a server with `ctrecon serve`, or give the address of one with --nats URL", err)
	}
	return b, err
}

// deployFlags are the settings of the deployment that serve and setup
// apply. Only flags given on the command line change a deployment.
type deployFlags struct {
	fs       *flag.FlagSet
	replicas int
	ackWait  time.Duration
}

func (d *deployFlags) register(fs *flag.FlagSet) {
	d.fs = fs
	fs.IntVar(&d.replicas, "replicas", bus.DefaultReplicas,
		"stream and bucket replicas (3 on a three-node cluster); if not given, an existing deployment keeps its own")
	fs.DurationVar(&d.ackWait, "ack-wait", bus.DefaultAckWait,
		"time a worker may go silent before its job goes to another; if not given, an existing deployment keeps its own")
}

// config returns the bus.Config of the flags given on the command line; the
// others stay zero, so that Setup keeps what the deployment has.
func (d *deployFlags) config() bus.Config {
	var cfg bus.Config
	d.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "replicas":
			cfg.Replicas = d.replicas
		case "ack-wait":
			cfg.AckWait = d.ackWait
		}
	})
	return cfg
}

// embeddedMaxPayload is the embedded server's largest message: 8 MiB,
// NATS's advised largest, over its default of 1 MiB, which a feature
// record of a fine grid outgrows (the virtual image of 400×400×80 voxels:
// 1.5 MB). A record larger still is left out of the search, with a
// warning (recon.Worker).
const embeddedMaxPayload = 8 << 20

// embedded starts the embedded server under dataDir, listening on port of
// the loopback interface, and points n at it.
func (n *natsFlags) embedded(ctx context.Context, dataDir string, port int) (*bus.Embedded, error) {
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{DataDir: filepath.Join(dataDir, "nats"), Port: port, MaxPayload: embeddedMaxPayload})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("--nats-port %d: %w\nanother ctrecon serve or NATS server has it: give another port with --nats-port (-1 for any free one), or use that server with --nats URL", port, err)
	}
	if err != nil {
		return nil, err
	}
	n.url = srv.ClientURL()
	return srv, nil
}
