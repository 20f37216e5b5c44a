package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func TestConnectOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nowhere.creds")
	junk := filepath.Join(dir, "junk.creds")
	if err := os.WriteFile(junk, []byte("not a credentials file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		url  string
		opts []Option
		want string
	}{
		{"missing credentials", "nats://127.0.0.1:1", []Option{WithCredentials(missing)}, missing},
		{"junk credentials", "nats://127.0.0.1:1", []Option{WithCredentials(junk)}, junk + ": no user JWT"},
		{"empty user", "nats://127.0.0.1:1", []Option{WithUserPassword("", "secret")}, "empty user"},
		{"user and credentials", "nats://127.0.0.1:1", []Option{WithUserPassword("u", "p"), WithCredentials(junk)}, "both a user"},
		{"cert without key", "nats://127.0.0.1:1", []Option{WithTLS("client.pem", "", "")}, "give both or neither"},
		{"missing CA", "nats://127.0.0.1:1", []Option{WithTLS("", "", filepath.Join(dir, "ca.pem"))}, "ca.pem"},
		{"missing cert", "nats://127.0.0.1:1", []Option{WithTLS(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), "")}, "c.pem"},
		{"CA not PEM", "nats://127.0.0.1:1", []Option{WithTLS("", "", junk)}, "no PEM certificate"},
		{"empty name", "nats://127.0.0.1:1", []Option{WithName(" ")}, "connection name"},
		{"backoff", "nats://127.0.0.1:1", []Option{WithReconnectBackoff(time.Second, time.Millisecond)}, "backoff"},
		{"nil logger", "nats://127.0.0.1:1", []Option{WithLogger(nil)}, "nil logger"},
		{"empty URL", "", nil, "empty NATS URL"},
		{"HTTP URL", "nats://127.0.0.1:1,http://u:secret@127.0.0.1:8080", nil, "http://u:xxxxx@127.0.0.1:8080: not a NATS URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Connect(testContext(t, 5*time.Second), tc.url, tc.opts...)
			if b != nil {
				b.Close()
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
			wantErr(t, err, tc.want)
		})
	}
}

// TestConnectRetriesUntilContextEnds dials a port nobody listens on.
func TestConnectRetriesUntilContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, url, WithReconnectBackoff(20*time.Millisecond, 50*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable and context.DeadlineExceeded", err)
	}
	wantErr(t, err, url)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect took %v to give up", d)
	}
}

// TestConnectLateServer starts the server after the client began to dial.
func TestConnectLateServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	done := make(chan error, 1)
	go func() {
		b, err := Connect(testContext(t, 10*time.Second), "nats://127.0.0.1:"+itoa(port),
			WithReconnectBackoff(20*time.Millisecond, 100*time.Millisecond))
		if err == nil {
			b.Close()
		}
		done <- err
	}()
	startServer(t, EmbeddedOptions{Port: port})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestUserPassword(t *testing.T) {
	e := startServer(t, EmbeddedOptions{Username: "acq", Password: "s3cret"})
	b := connect(t, e.ClientURL(), WithUserPassword("acq", "s3cret"), WithName("acquire"))
	if err := b.Setup(testContext(t, 10*time.Second), Config{}); err != nil {
		t.Fatal(err)
	}
	// A wrong password fails at once rather than retrying until the deadline.
	start := time.Now()
	_, err := Connect(testContext(t, 10*time.Second), e.ClientURL(), WithUserPassword("acq", "wrong"))
	wantErr(t, err, "Authorization Violation")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a refused password took %v", d)
	}
}

// TestTLS runs a server that requires TLS with client certificates.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)

	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		TLS: true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("TLS server not ready")
	}
	url := "tls://" + srv.Addr().String()

	b := connect(t, url, WithTLS(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), filepath.Join(dir, "ca.pem")))
	ctx := testContext(t, 10*time.Second)
	if err := b.Setup(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SubmitJob(ctx, "over-tls", nil); err != nil {
		t.Fatal(err)
	}

	// Without the CA the server's certificate does not verify: no retrying.
	start := time.Now()
	_, err = Connect(testContext(t, 10*time.Second), url, WithTLS(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), ""))
	if err == nil {
		t.Fatal("connected without trusting the server's CA")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a certificate that does not verify took %v to fail: %v", d, err)
	}
}

// newCert writes name.pem and name-key.pem under dir: a CA if parent is nil,
// else a certificate for 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "ctrecon test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestRedact(t *testing.T) {
	got := redact("nats://acq:s3cret@10.0.0.1:4222, nats://10.0.0.2:4222")
	if want := "nats://acq:xxxxx@10.0.0.1:4222, nats://10.0.0.2:4222"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}

// The version the server announces decides at connect time whether
// ctrecon can use it: Debian's 2.9.10 cannot (its consumers filter on one
// subject only, and the first scan failed part-way).
func TestCheckServerVersion(t *testing.T) {
	for _, v := range []string{"2.10.0", "2.10.0-RC.1", "2.12.1", "v2.11.4", "3.0.0", "2.10.22+build.7"} {
		if err := checkServerVersion(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{"2.9.10", "2.9.25", "1.4.1", "", "unknown"} {
		err := checkServerVersion(v)
		if !errors.Is(err, ErrServerVersion) {
			t.Errorf("%q: err = %v, want ErrServerVersion", v, err)
			continue
		}
		wantErr(t, err, MinServerVersion, v)
	}
}
