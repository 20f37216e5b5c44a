package bus

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// TestCredentials runs a server in operator mode, as a NATS deployment
// managed with nsc is, and connects with a user's credentials file.
func TestCredentials(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	key := func(create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, string) {
		kp, err := create()
		must(err)
		pub, err := kp.PublicKey()
		must(err)
		return kp, pub
	}
	opKP, opPub := key(nkeys.CreateOperator)
	_, sysPub := key(nkeys.CreateAccount)
	accKP, accPub := key(nkeys.CreateAccount)
	userKP, userPub := key(nkeys.CreateUser)

	operator := jwt.NewOperatorClaims(opPub)
	operator.Name = "ctrecon-test"
	_, err := operator.Encode(opKP)
	must(err)
	resolver := &server.MemAccResolver{}
	sys := jwt.NewAccountClaims(sysPub)
	sys.Name = "SYS"
	sysJWT, err := sys.Encode(opKP)
	must(err)
	must(resolver.Store(sysPub, sysJWT))
	acc := jwt.NewAccountClaims(accPub)
	acc.Name = "CTRECON"
	acc.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := acc.Encode(opKP)
	must(err)
	must(resolver.Store(accPub, accJWT))

	user := jwt.NewUserClaims(userPub)
	user.Name = "worker"
	userJWT, err := user.Encode(accKP)
	must(err)
	seed, err := userKP.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	credsFile := filepath.Join(t.TempDir(), "worker.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		TrustedOperators: []*jwt.OperatorClaims{operator},
		AccountResolver:  resolver,
		SystemAccount:    sysPub,
	})
	must(err)
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}

	b := connect(t, srv.ClientURL(), WithCredentials(credsFile))
	ctx := testContext(t, 10*time.Second)
	must(b.Setup(ctx, Config{}))
	if _, err := b.PutStatus(ctx, Status{ID: "creds", State: StateQueued}); err != nil {
		t.Fatal(err)
	}
	// Without credentials the server refuses at once.
	start := time.Now()
	if _, err := Connect(ctx, srv.ClientURL()); err == nil {
		t.Error("connected without credentials")
	} else if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v: %v", d, err)
	}
}
