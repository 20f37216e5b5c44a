package bustest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"golang.org/x/mod/semver"
)

// serverModule is the module whose main package is nats-server.
const serverModule = "github.com/nats-io/nats-server/v2"

// NATSServer returns a nats-server binary that ctrecon can use (at least
// bus.MinServerVersion): $CTRECON_NATS_SERVER, one on PATH, in
// /usr/sbin or in GOPATH/bin, or else one built with `go install` at the
// version of the embedded server into the user's cache folder, where later
// runs find it. When none can be found or built the test is skipped, or
// fails under CTRECON_REQUIRE_PEERS=1.
func NATSServer(t testing.TB) string {
	t.Helper()
	for _, bin := range natsServers() {
		if v, err := serverVersion(bin); err == nil && semver.Compare(v, "v"+bus.MinServerVersion) >= 0 {
			return bin
		}
	}
	bin, err := installNATSServer()
	if err != nil {
		missing(t, err)
	}
	return bin
}

// OldNATSServer returns a nats-server binary older than
// bus.MinServerVersion (Debian bookworm's nats-server package is 2.9.10),
// found where NATSServer looks, or skips the test: such a server is
// optional, even under CTRECON_REQUIRE_PEERS.
func OldNATSServer(t testing.TB) (bin, version string) {
	t.Helper()
	for _, bin := range natsServers() {
		if v, err := serverVersion(bin); err == nil && semver.Compare(v, "v"+bus.MinServerVersion) < 0 {
			return bin, v
		}
	}
	t.Skip("no nats-server older than " + bus.MinServerVersion + " (apt-get install nats-server, or set CTRECON_NATS_SERVER)")
	return "", ""
}

func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CTRECON_REQUIRE_PEERS") == "1" {
		t.Fatalf("nats-server: %v", err)
	}
	t.Skipf("nats-server: %v", err)
}

// natsServers lists the nats-server binaries that exist where NATSServer
// looks, in that order.
func natsServers() []string {
	var found []string
	candidates := []string{os.Getenv("CTRECON_NATS_SERVER"), "/usr/sbin/nats-server"}
	if p, err := exec.LookPath("nats-server"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(dir, "bin", "nats-server"))
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); c != "" && err == nil && fi.Mode().IsRegular() {
			found = append(found, c)
		}
	}
	return found
}

// serverVersion returns the version bin reports ("v2.12.1").
func serverVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	fields := strings.Fields(string(out)) // "nats-server: v2.12.1"
	if len(fields) == 0 || !semver.IsValid(fields[len(fields)-1]) {
		return "", fmt.Errorf("%s --version: %q", bin, out)
	}
	return fields[len(fields)-1], nil
}

// installNATSServer builds nats-server at the version this module embeds
// into the user's cache folder, once; the binary is renamed into place so
// that concurrent test processes never run a half-written one.
func installNATSServer() (string, error) {
	version, err := embeddedVersion()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "ctrecon", "nats-server-"+version)
	bin := filepath.Join(dir, "nats-server")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", serverModule+"@"+version)
	cmd.Dir = tmp // outside this module, so that its go.mod does not apply
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", serverModule, version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "nats-server"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// embeddedVersion is the version of nats-server this test binary embeds.
func embeddedVersion() (string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build information in the test binary")
	}
	for _, d := range info.Deps {
		if d.Path == serverModule {
			return d.Version, nil
		}
	}
	return "", errors.New(serverModule + " is not a dependency of the test binary")
}

// StartExternal runs bin as a separate nats-server process with JetStream
// on a free loopback port, its storage in a temporary folder, until the
// test ends, and returns its client URL once it listens.
func StartExternal(t testing.TB, bin string) string {
	t.Helper()
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "nats-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, "jetstream"), "-a", "127.0.0.1", "-p", "-1",
		"--ports_file_dir", dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	ports := filepath.Join(dir, fmt.Sprintf("%s_%d.ports", filepath.Base(bin), cmd.Process.Pid))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var p struct{ Nats []string }
		if data, err := os.ReadFile(ports); err == nil && json.Unmarshal(data, &p) == nil && len(p.Nats) > 0 {
			return p.Nats[0]
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("%s did not report its ports in %s:\n%s", bin, ports, out)
		}
	}
}
