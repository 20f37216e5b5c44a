// Package orthanctest starts a real PACS for tests: Debian's Orthanc with
// its DICOMweb plugin, on a free loopback port with its own storage.
package orthanctest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/internal/peertest"
)

// Start runs Debian's Orthanc with the DICOMweb plugin on a free
// loopback port, with its own storage, and returns its DICOMweb root.
func Start(t testing.TB) string {
	t.Helper()
	bin := peertest.Tool(t, "Orthanc", "orthanc")
	plugin := "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
	if _, err := os.Stat(plugin); err != nil {
		peertest.Missing(t, fmt.Sprintf("Orthanc's DICOMweb plugin not found (Debian package orthanc-dicomweb, installed by `make deps`): %v", err))
	}
	port := freePort(t)
	dir := t.TempDir()
	cfg := map[string]any{
		"Name": "ctrecon-test", "StorageDirectory": dir, "IndexDirectory": dir,
		"HttpPort": port, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
		"DicomServerEnabled": false, "Plugins": []string{plugin},
		"DicomWeb": map[string]any{"Enable": true, "Root": "/dicom-web/"},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	log, _ := os.Create(filepath.Join(dir, "orthanc.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base + "/dicom-web"
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "orthanc.log"))
			t.Fatalf("Orthanc did not answer on %s within 30 s:\n%s", base, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// GetJSON decodes the JSON answer to GET url into v, failing t otherwise.
func GetJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
