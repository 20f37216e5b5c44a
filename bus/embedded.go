package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures an embedded nats-server with JetStream.
type EmbeddedOptions struct {
	// DataDir is where JetStream keeps its files; it is created if missing.
	// A server started again on the same DataDir finds its streams and
	// messages there. Required.
	DataDir string

	// Host is the client listen address (default 127.0.0.1, this host only).
	Host string

	// Port is the client port: 0 for NATS's 4222, -1 for a free port.
	Port int

	// ServerName names the server in a cluster; it must differ between
	// nodes. The default is the server's generated ID.
	ServerName string

	// ClusterName, ClusterPort and Routes make the server a cluster node.
	// ClusterPort is the port for routes from other nodes on Host (-1 for a
	// free port); Routes are the other nodes' route URLs
	// (nats-route://host:port; listing this node too is harmless). A
	// JetStream cluster needs at least one route; ClusterName defaults to
	// "ctrecon".
	ClusterName string
	ClusterPort int
	Routes      []string

	// Username and Password, if set, are required of every client.
	Username string
	Password string

	// MaxPayload is the largest message in bytes (default 1 MiB, at most
	// 64 MiB).
	MaxPayload int32

	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
}

// Embedded is a nats-server running in this process.
type Embedded struct {
	srv  *server.Server
	opts EmbeddedOptions
}

// StartEmbedded starts a nats-server with JetStream on file storage under
// o.DataDir and returns once it accepts clients; ctx bounds the start only.
// A cluster node returns before its cluster has formed (WaitForJetStream
// waits for that). The server runs until Shutdown.
//
// Errors wrap ErrInvalidOption, the context's error, the error of listening
// on the client port (syscall.EADDRINUSE when it is in use), or report why
// the server did not start.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	sopts, err := o.serverOptions()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(sopts.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: DataDir: %w", ErrInvalidOption, err)
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("bus: nats-server: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sl := &serverLog{
		log:   logger.With("component", "nats-server", "server", o.ServerName),
		fatal: make(chan string, 1),
	}
	srv.SetLoggerV2(sl, logger.Enabled(ctx, slog.LevelDebug), false, false)
	go srv.Start()

	for !srv.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-sl.fatal:
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, startFailed(sopts, msg)
		case <-ctx.Done():
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("bus: nats-server did not start: %w", ctx.Err())
		default:
		}
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("bus: nats-server started without JetStream (DataDir %s)", sopts.StoreDir)
	}
	e := &Embedded{srv: srv, opts: o}
	e.opts.DataDir = sopts.StoreDir
	e.opts.Host = sopts.Host
	if a, ok := srv.Addr().(*net.TCPAddr); ok {
		e.opts.Port = a.Port
	}
	if a := srv.ClusterAddr(); a != nil {
		e.opts.ClusterName = sopts.Cluster.Name
		e.opts.ClusterPort = a.Port
	}
	return e, nil
}

// startFailed explains why a server did not start. nats-server reports
// only a message, so the client and cluster ports are tried here: when one
// cannot be bound the error wraps the listen error (syscall.EADDRINUSE
// when another process has the port).
func startFailed(o *server.Options, msg string) error {
	port := o.Port
	if port == 0 {
		port = server.DEFAULT_PORT
	}
	for _, p := range []struct {
		name string
		port int
	}{{"client", port}, {"cluster", o.Cluster.Port}} {
		if p.port <= 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(p.port)))
		if err != nil {
			return fmt.Errorf("bus: nats-server did not start: %s port %d: %w", p.name, p.port, err)
		}
		l.Close()
	}
	return fmt.Errorf("bus: nats-server did not start: %s", msg)
}

func (o EmbeddedOptions) serverOptions() (*server.Options, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required", ErrInvalidOption)
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: DataDir %s: %w", ErrInvalidOption, o.DataDir, err)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port < -1 || o.Port > 65535 {
		return nil, fmt.Errorf("%w: Port %d", ErrInvalidOption, o.Port)
	}
	if o.ClusterPort < -1 || o.ClusterPort > 65535 {
		return nil, fmt.Errorf("%w: ClusterPort %d", ErrInvalidOption, o.ClusterPort)
	}
	if o.MaxPayload < 0 || o.MaxPayload > 64<<20 {
		return nil, fmt.Errorf("%w: MaxPayload %d: want at most 64 MiB", ErrInvalidOption, o.MaxPayload)
	}
	if o.Password != "" && o.Username == "" {
		return nil, fmt.Errorf("%w: a Password without a Username", ErrInvalidOption)
	}
	s := &server.Options{
		ServerName: o.ServerName,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: o.MaxPayload,
		Username:   o.Username,
		Password:   o.Password,
	}
	if o.ClusterPort != 0 || len(o.Routes) > 0 || o.ClusterName != "" {
		if o.ClusterPort == 0 {
			return nil, fmt.Errorf("%w: a cluster node needs a ClusterPort", ErrInvalidOption)
		}
		if len(o.Routes) == 0 {
			return nil, fmt.Errorf("%w: a JetStream cluster node needs Routes", ErrInvalidOption)
		}
		name := o.ClusterName
		if name == "" {
			name = "ctrecon"
		}
		s.Cluster = server.ClusterOpts{Name: name, Host: o.Host, Port: o.ClusterPort}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil || (u.Scheme != "nats-route" && u.Scheme != "nats") || u.Port() == "" {
				return nil, fmt.Errorf("%w: route %q: want nats-route://host:port", ErrInvalidOption, r)
			}
			s.Routes = append(s.Routes, u)
		}
	}
	return s, nil
}

// ClientURL is the URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Options returns the options the server runs with, ports resolved, so
// that StartEmbedded(ctx, e.Options()) after Shutdown restarts it on the same
// ports and data.
func (e *Embedded) Options() EmbeddedOptions {
	o := e.opts
	o.Routes = append([]string(nil), e.opts.Routes...)
	return o
}

// Name is the server's name.
func (e *Embedded) Name() string { return e.srv.Name() }

// Shutdown stops the server and closes its clients' connections; they
// reconnect to another cluster node or to this one when it is started again.
func (e *Embedded) Shutdown() { e.srv.Shutdown() }

// WaitForShutdown blocks until the server has shut down.
func (e *Embedded) WaitForShutdown() { e.srv.WaitForShutdown() }

// StartLocalCluster starts n embedded servers on the loopback interface,
// routed to each other, and returns once their JetStream cluster has a
// leader. From base it takes DataDir as the parent of one directory per
// node, ServerName as the prefix of the node names (default "n": n1, n2,
// ...), ClusterName, Username, Password, MaxPayload and Logger. Each node's
// Options restart it on the same ports and data.
//
// It is meant for tests and demonstrations of replicated streams: the route
// ports are found free just before the servers bind them, and when another
// process takes one in between (EADDRINUSE), the cluster is started again
// on new ports, localClusterTries times at most, the node directories this
// call made removed first.
func StartLocalCluster(ctx context.Context, n int, base EmbeddedOptions) ([]*Embedded, error) {
	if n < 2 {
		return nil, fmt.Errorf("%w: a cluster of %d servers", ErrInvalidOption, n)
	}
	if base.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required", ErrInvalidOption)
	}
	for try := 1; ; try++ {
		nodes, err := startLocalCluster(ctx, n, base)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || try == localClusterTries {
			return nodes, err
		}
	}
}

// localClusterTries is how many times StartLocalCluster picks new ports
// when one it found free was taken before its server bound it.
const localClusterTries = 5

// startLocalCluster is one try of StartLocalCluster. On failure it stops
// the nodes it started and removes the node directories it made.
func startLocalCluster(ctx context.Context, n int, base EmbeddedOptions) ([]*Embedded, error) {
	ports, err := freeLoopbackPorts(n)
	if err != nil {
		return nil, fmt.Errorf("bus: local cluster: %w", err)
	}
	prefix := base.ServerName
	if prefix == "" {
		prefix = "n"
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = "nats-route://127.0.0.1:" + strconv.Itoa(p)
	}
	nodes := make([]*Embedded, 0, n)
	var made []string
	fail := func(err error) ([]*Embedded, error) {
		for _, e := range nodes {
			e.Shutdown()
			e.WaitForShutdown()
		}
		for _, dir := range made {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	for i := range n {
		o := base
		o.ServerName = prefix + strconv.Itoa(i+1)
		o.DataDir = filepath.Join(base.DataDir, o.ServerName)
		if _, err := os.Stat(o.DataDir); errors.Is(err, os.ErrNotExist) {
			made = append(made, o.DataDir)
		}
		o.Host = "127.0.0.1"
		o.Port = -1
		o.ClusterPort = ports[i]
		o.Routes = routes
		e, err := StartEmbedded(ctx, o)
		if err != nil {
			return fail(fmt.Errorf("bus: local cluster node %s: %w", o.ServerName, err))
		}
		nodes = append(nodes, e)
	}
	if err := WaitForJetStream(ctx, nodes...); err != nil {
		return fail(err)
	}
	return nodes, nil
}

// WaitForJetStream waits until the JetStream cluster of the given running
// nodes has a leader that every one of them follows and that sees each of
// them online, or ctx ends.
func WaitForJetStream(ctx context.Context, nodes ...*Embedded) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		online, current := 0, true
		for _, e := range nodes {
			if e.srv.JetStreamIsLeader() {
				online = len(e.srv.JetStreamClusterPeers())
			}
			current = current && e.srv.JetStreamIsCurrent()
		}
		if online >= len(nodes) && current {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: JetStream cluster not formed (%d of %d nodes seen by a leader): %w",
				online, len(nodes), ctx.Err())
		case <-tick.C:
		}
	}
}

// freeLoopbackPorts returns n distinct TCP ports free on 127.0.0.1 now.
func freeLoopbackPorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var errs []error
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			errs = append(errs, err)
			break
		}
		// Kept open until all are found, so that the ports differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, errors.Join(errs...)
}

// serverLog passes nats-server's log to slog and reports fatal errors,
// which would otherwise end the process or vanish.
type serverLog struct {
	log   *slog.Logger
	fatal chan string
}

func (l *serverLog) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	select {
	case l.fatal <- msg:
	default:
	}
}
