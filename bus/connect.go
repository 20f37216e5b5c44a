package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"golang.org/x/mod/semver"
)

// Bus is a connection to NATS with its JetStream context. It is safe for
// concurrent use. Close it when done.
type Bus struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	mu          sync.Mutex
	workers     jetstream.Consumer
	status      jetstream.KeyValue
	projections jetstream.ObjectStore
	deployment  jetstream.KeyValue
}

// Option configures Connect. Options check their arguments when Connect
// applies them and return errors wrapping ErrInvalidOption.
type Option func(*connectOptions) error

type connectOptions struct {
	name         string
	user, pass   string
	credentials  string
	tls          *tls.Config
	log          *slog.Logger
	reconnectMin time.Duration
	reconnectMax time.Duration
}

// WithName sets the connection name the server shows in its monitoring.
func WithName(name string) Option {
	return func(o *connectOptions) error {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("%w: empty connection name", ErrInvalidOption)
		}
		o.name = name
		return nil
	}
}

// WithUserPassword authenticates with a user and password. It cannot be
// combined with WithCredentials.
func WithUserPassword(user, password string) Option {
	return func(o *connectOptions) error {
		if user == "" {
			return fmt.Errorf("%w: empty user name", ErrInvalidOption)
		}
		if o.credentials != "" {
			return fmt.Errorf("%w: both a user and a credentials file (%s)", ErrInvalidOption, o.credentials)
		}
		o.user, o.pass = user, password
		return nil
	}
}

// WithCredentials authenticates with a NATS credentials file (a user JWT and
// its NKey seed, as `nsc` writes them). The file must exist and hold both;
// it cannot be combined with WithUserPassword.
func WithCredentials(file string) Option {
	return func(o *connectOptions) error {
		if file == "" {
			return fmt.Errorf("%w: empty credentials file name", ErrInvalidOption)
		}
		if o.user != "" {
			return fmt.Errorf("%w: both a user (%s) and a credentials file", ErrInvalidOption, o.user)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%w: credentials file: %w", ErrInvalidOption, err)
		}
		token, err := nkeys.ParseDecoratedJWT(data)
		if err == nil {
			_, err = jwt.DecodeUserClaims(token)
		}
		if err != nil {
			return fmt.Errorf("%w: credentials file %s: no user JWT: %w", ErrInvalidOption, file, err)
		}
		if _, err := nkeys.ParseDecoratedNKey(data); err != nil {
			return fmt.Errorf("%w: credentials file %s: no user seed: %w", ErrInvalidOption, file, err)
		}
		o.credentials = file
		return nil
	}
}

// WithTLS connects with TLS. certFile and keyFile (PEM) are the client
// certificate for servers that verify clients; both or neither are given.
// caFile (PEM) holds the certificate authorities that signed the server's
// certificate; if empty, the system's roots are used. The files are read
// and checked when the option is applied.
func WithTLS(certFile, keyFile, caFile string) Option {
	return func(o *connectOptions) error {
		if (certFile == "") != (keyFile == "") {
			return fmt.Errorf("%w: TLS certificate %q and key %q: give both or neither", ErrInvalidOption, certFile, keyFile)
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if certFile != "" {
			for _, f := range []string{certFile, keyFile} {
				if _, err := os.Stat(f); err != nil {
					return fmt.Errorf("%w: TLS: %w", ErrInvalidOption, err)
				}
			}
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return fmt.Errorf("%w: TLS certificate %s and key %s: %w", ErrInvalidOption, certFile, keyFile, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return fmt.Errorf("%w: TLS CA: %w", ErrInvalidOption, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%w: TLS CA file %s: no PEM certificate", ErrInvalidOption, caFile)
			}
			cfg.RootCAs = pool
		}
		o.tls = cfg
		return nil
	}
}

// WithLogger logs connection events (disconnected, reconnected, closed,
// asynchronous errors) to l. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *connectOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.log = l
		return nil
	}
}

// WithReconnectBackoff sets the delay before the first reconnection attempt
// and its cap; the delay doubles with each failed attempt, with ±20 %
// jitter. The defaults are 100 ms and 5 s.
func WithReconnectBackoff(first, max time.Duration) Option {
	return func(o *connectOptions) error {
		if first <= 0 || max < first {
			return fmt.Errorf("%w: reconnect backoff %v to %v", ErrInvalidOption, first, max)
		}
		o.reconnectMin, o.reconnectMax = first, max
		return nil
	}
}

// backoff returns the delay before attempt n (1-based).
func (o *connectOptions) backoff(n int) time.Duration {
	d := o.reconnectMin
	for i := 1; i < n && d < o.reconnectMax; i++ {
		d *= 2
	}
	d = min(d, o.reconnectMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Connect connects to the NATS server or cluster at url (a comma-separated
// list is allowed), checks that the server is MinServerVersion or newer,
// and opens its JetStream context.
//
// Until the first connection succeeds Connect retries with backoff until ctx
// ends, so a worker may start before its server; an authorization or TLS
// failure ends it at once. Once connected, the client reconnects forever
// with backoff, buffering publishes meanwhile; a JetStream publish whose
// acknowledgement was lost should be repeated with the same message ID.
//
// Errors wrap ErrInvalidOption, ErrServerVersion, ErrUnreachable with the
// context's error and the last connection error, or the nats error that
// ended the attempt.
func Connect(ctx context.Context, url string, opts ...Option) (*Bus, error) {
	o := connectOptions{
		log:          slog.New(slog.DiscardHandler),
		reconnectMin: 100 * time.Millisecond,
		reconnectMax: 5 * time.Second,
	}
	if strings.TrimSpace(url) == "" {
		return nil, fmt.Errorf("%w: empty NATS URL", ErrInvalidOption)
	}
	if err := CheckURLs(url); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	shown := redact(url)
	log := o.log.With("nats", shown)
	nopts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(o.backoff),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
			if err := checkServerVersion(nc.ConnectedServerVersion()); err != nil {
				log.Error("NATS reconnected to a server ctrecon cannot use", "err", err)
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Debug("NATS connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("NATS error", "subject", subject, "err", err)
		}),
	}
	if o.name != "" {
		nopts = append(nopts, nats.Name(o.name))
	}
	if o.user != "" {
		nopts = append(nopts, nats.UserInfo(o.user, o.pass))
	}
	if o.credentials != "" {
		nopts = append(nopts, nats.UserCredentials(o.credentials))
	}
	if o.tls != nil {
		nopts = append(nopts, nats.Secure(o.tls))
	}

	var last error
	for attempt := 1; ; attempt++ {
		timeout := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(dl))
		}
		if timeout <= 0 || ctx.Err() != nil {
			return nil, connectFailed(ctx, shown, last)
		}
		nc, err := nats.Connect(url, append(nopts, nats.Timeout(timeout))...)
		if err == nil {
			if err := checkServerVersion(nc.ConnectedServerVersion()); err != nil {
				nc.Close()
				return nil, fmt.Errorf("%w: %s at %s", err, nc.ConnectedServerName(), shown)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("bus: JetStream on %s: %w", shown, err)
			}
			return &Bus{nc: nc, js: js, log: o.log}, nil
		}
		if permanent(err) {
			return nil, fmt.Errorf("bus: connect to %s: %w", shown, err)
		}
		last = err
		t := time.NewTimer(o.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, connectFailed(ctx, shown, last)
		case <-t.C:
		}
	}
}

// redact hides the passwords in a comma-separated list of URLs.
// CheckURLs refuses, at once, a URL of urls (comma-separated) of another
// scheme than the NATS client takes (nats, tls, ws, wss; none means
// nats): Connect would try it until its context ended and then say that
// no server answered, as for an HTTP API's address given by mistake. The
// error begins with the URL, redacted, and wraps ErrInvalidOption.
func CheckURLs(urls string) error {
	for _, u := range strings.Split(urls, ",") {
		scheme, _, ok := strings.Cut(strings.TrimSpace(u), "://")
		if ok && !slices.Contains([]string{"nats", "tls", "ws", "wss"}, strings.ToLower(scheme)) {
			return fmt.Errorf("%s: not a NATS URL: want nats://HOST:PORT (or tls://, ws://, wss://): %w", redact(strings.TrimSpace(u)), ErrInvalidOption)
		}
	}
	return nil
}

func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

func connectFailed(ctx context.Context, url string, last error) error {
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	if last == nil {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, url, cause)
	}
	return fmt.Errorf("%w at %s: %w (last attempt: %w)", ErrUnreachable, url, cause, last)
}

// MinServerVersion is the oldest nats-server ctrecon works with: its
// consumers filter on several subjects, which came with 2.10; an older
// server accepts the connection and fails the first scan part-way.
const MinServerVersion = "2.10.0"

// checkServerVersion returns an error wrapping ErrServerVersion unless
// version, as the server's INFO gives it ("2.12.1"), is MinServerVersion or
// newer. Pre-releases count as their release.
func checkServerVersion(version string) error {
	v := "v" + strings.TrimPrefix(version, "v")
	if !semver.IsValid(v) {
		return fmt.Errorf("%w: version %q is not a version number; ctrecon needs nats-server %s or newer",
			ErrServerVersion, version, MinServerVersion)
	}
	v = strings.TrimSuffix(v, semver.Prerelease(v)+semver.Build(v))
	if semver.Compare(v, "v"+MinServerVersion) < 0 {
		return fmt.Errorf("%w: nats-server %s; ctrecon needs %s or newer", ErrServerVersion, version, MinServerVersion)
	}
	return nil
}

// permanent reports whether a failed connection attempt would fail the same
// way again: bad credentials or a certificate that does not verify.
func permanent(err error) bool {
	var (
		unknownCA *x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		host      x509.HostnameError
		tlsRecord tls.RecordHeaderError
		dns       *net.DNSError
	)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired),
		errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted):
		return true
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &host), errors.As(err, &tlsRecord):
		return true
	case errors.As(err, &dns):
		return dns.IsNotFound
	}
	// nats.go does not always wrap the handshake error with %w.
	return strings.Contains(err.Error(), "tls: ") || strings.Contains(err.Error(), "x509: ")
}

// Close closes the connection. Publishes already acknowledged are stored;
// a Job not yet acknowledged is redelivered after its AckWait.
func (b *Bus) Close() {
	b.nc.Close()
}

// Conn returns the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the underlying JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// maxPayload is the largest message the connected server accepts.
func (b *Bus) maxPayload() int64 { return b.nc.MaxPayload() }
