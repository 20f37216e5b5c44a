package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
)

// A job whose PACS refuses the upload (HTTP 400 to STOW-RS, 200 to the
// check's query) fails, and submit --wait and jobs show it as the user's
// trial wanted: submit --wait prints the kept output and the report's
// warnings before its error, and jobs lists the job failed at 100% on its
// device, not "0%" with no device.
func TestFailedUploadJobShownWithItsWarnings(t *testing.T) {
	_, scan := phantomScans(t)
	b, srv := bustest.Start(t, bus.Config{})
	startWorker(t, b)
	stow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
		}
		w.Write([]byte("[]"))
	}))
	t.Cleanup(stow.Close)
	nats := []string{"--nats", srv.ClientURL()}
	var err error
	waited, _ := captureOutput(t, func() error {
		err = runSubmit(append(nats, "-i", scan, "--id", "fail-3", "--dim", "32,32,4",
			"--materials", "water,iodine", "--pacs", stow.URL, "--pacs-timeout", "1s", "--wait"))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("submit --wait: err %v, want the job's failure for HTTP 400", err)
	}
	st, gerr := b.GetStatus(t.Context(), "fail-3")
	if gerr != nil {
		t.Fatal(gerr)
	}
	if !strings.Contains(waited, "  output "+st.Output) || !strings.Contains(waited, "  warning: ") {
		t.Errorf("submit --wait printed %q: want the kept output %s and the report's warnings", waited, st.Output)
	}
	listed, _ := captureOutput(t, func() error { return runJobs(nats) })
	line := ""
	for l := range strings.Lines(listed) {
		if strings.HasPrefix(l, "fail-3 ") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 4 || f[1] != "failed" || f[2] != "100%" || st.Device == "" || !strings.Contains(line, "100%  "+st.Device+" ") {
		t.Errorf("jobs listed %q: want fail-3 failed 100%% on its device %q", line, st.Device)
	}
}
