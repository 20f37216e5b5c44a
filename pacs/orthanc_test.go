package pacs

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
)

// startOrthanc runs Debian's Orthanc with the DICOMweb plugin on a free
// loopback port, with its own storage, and returns its DICOMweb root.
func startOrthanc(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("Orthanc")
	if err != nil {
		if os.Getenv("CTRECON_REQUIRE_PEERS") == "1" {
			t.Fatal("Orthanc not found and CTRECON_REQUIRE_PEERS=1 (apt-get install orthanc orthanc-dicomweb)")
		}
		t.Skip("Orthanc not installed (apt-get install orthanc orthanc-dicomweb)")
	}
	plugin := "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
	if _, err := os.Stat(plugin); err != nil {
		t.Fatalf("Orthanc is installed but its DICOMweb plugin is not: %v", err)
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

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A two-bin study written by dicomio and uploaded with STOW-RS is found in
// Orthanc by its StudyInstanceUID, with both series and every instance.
func TestUploadToOrthanc(t *testing.T) {
	root := startOrthanc(t)
	grid := fdk.CenteredGrid([3]int{16, 12, 5}, [3]float64{0.5, 0.5, 1}, fdk.Vec3{})
	vol := fdk.NewVolume(grid)
	for i := range vol.Data {
		vol.Data[i] = 0.02 * float32(i%7) / 6
	}
	st := dicomio.Study{PatientName: "Phantom^Water", PatientID: "CTR-0001", StudyID: "1",
		StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID(), StudyTime: time.Now()}
	dir := t.TempDir()
	var all []Instance
	for i, keV := range [][2]float64{{15, 35}, {35, 50}} {
		s, err := dicomio.WriteSeries(dir, st, dicomio.Bin{Index: i, LowKeV: keV[0], HighKeV: keV[1], MuWater: 0.02}, vol, dicomio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range s.Instances {
			all = append(all, Instance{Path: in.Path, SOPInstanceUID: in.SOPInstanceUID})
		}
	}
	c := &Client{BaseURL: root, Batch: 4}
	res, err := c.Store(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stored) != 10 {
		t.Fatalf("stored %d of 10", len(res.Stored))
	}
	var series, instances []map[string]any
	getJSON(t, root+"/studies/"+st.StudyInstanceUID+"/series", &series)
	getJSON(t, root+"/studies/"+st.StudyInstanceUID+"/instances", &instances)
	if len(series) != 2 || len(instances) != 10 {
		t.Errorf("Orthanc has %d series and %d instances of the study, want 2 and 10", len(series), len(instances))
	}
}

func getJSON(t *testing.T, url string, v any) {
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
