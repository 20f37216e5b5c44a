// Package peertest finds the peer tools that tests compare against
// (plastimatch, dciodvfy, dcmdump, Orthanc). Installing them is `make
// deps`'s job, never a test's: a test whose tool is missing skips, or fails
// when CTRECON_REQUIRE_PEERS=1 (set by .ci/run, which installs them first).
package peertest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv names the environment variable that turns a missing peer
// tool from a skip into a failure.
const RequireEnv = "CTRECON_REQUIRE_PEERS"

// Tool returns the path of the executable name, which Debian package pkg
// provides. When it is not on PATH the test skips, or fails under
// CTRECON_REQUIRE_PEERS=1.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, name+" not found (Debian package "+pkg+", installed by `make deps`)")
	return ""
}

// Missing skips the test because of what is missing, or fails it under
// CTRECON_REQUIRE_PEERS=1.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(what + " and " + RequireEnv + "=1")
	}
	t.Skip(what)
}
