package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/bus"
)

// natsFlags say how to reach NATS: a URL with its credentials, or (for
// serve) an embedded server with its data under --data.
type natsFlags struct {
	url, user, password, creds string
	tlsCert, tlsKey, tlsCA     string
	replicas                   int
	ackWait                    time.Duration
}

func (n *natsFlags) register(fs *flag.FlagSet, defaultURL string) {
	fs.StringVar(&n.url, "nats", defaultURL, "NATS server URL(s), comma-separated")
	fs.StringVar(&n.user, "user", "", "NATS user name")
	fs.StringVar(&n.password, "password", "", "NATS password")
	fs.StringVar(&n.creds, "creds", "", "NATS credentials file")
	fs.StringVar(&n.tlsCert, "tls-cert", "", "client certificate for TLS")
	fs.StringVar(&n.tlsKey, "tls-key", "", "client key for TLS")
	fs.StringVar(&n.tlsCA, "tls-ca", "", "certificate authority for TLS")
	fs.IntVar(&n.replicas, "replicas", 1, "stream replicas (3 on a three-node cluster)")
	fs.DurationVar(&n.ackWait, "ack-wait", 30*time.Second, "time a worker may go silent before its job goes to another")
}

// connect connects, and sets up the streams and buckets (idempotent).
func (n *natsFlags) connect(ctx context.Context, name string) (*bus.Bus, error) {
	if n.url == "" {
		return nil, fmt.Errorf("--nats URL is required")
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
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := bus.Connect(cctx, n.url, opts...)
	if err != nil {
		return nil, err
	}
	if err := b.Setup(ctx, bus.Config{Replicas: n.replicas, AckWait: n.ackWait}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// embedded starts the embedded server under dataDir, listening on port of
// the loopback interface, and points n at it.
func (n *natsFlags) embedded(ctx context.Context, dataDir string, port int) (*bus.Embedded, error) {
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{DataDir: filepath.Join(dataDir, "nats"), Port: port})
	if err != nil {
		return nil, err
	}
	n.url = srv.ClientURL()
	return srv, nil
}
