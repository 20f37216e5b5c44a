package pacs

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/internal/orthanctest"
)

// Ping passes against a real PACS (Orthanc with DICOMweb) and fails, naming
// the URL, when nothing listens, when the root is wrong (HTTP 404, which
// alone is ErrRejected: retrying cannot fix a wrong root) and when the
// server accepts but never answers.
func TestPing(t *testing.T) {
	root := orthanctest.Start(t)
	ctx := context.Background()
	if err := (&Client{BaseURL: root}).Ping(ctx); err != nil {
		t.Fatalf("Orthanc: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/dicom-web"
	l.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accepts connections and never answers
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	hung := "http://" + silent.Addr().String() + "/dicom-web"

	for _, c := range []struct {
		url, want string
		rejected  bool
	}{
		{closed, "does not answer", false},
		{strings.TrimSuffix(root, "/dicom-web") + "/no-such-root", "HTTP 404", true},
		{hung, "does not answer", false},
	} {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.url == hung { // not to wait out PingTimeout
			pctx, cancel = context.WithTimeout(ctx, time.Second)
		}
		err := (&Client{BaseURL: c.url}).Ping(pctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.url) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to name the URL and say %q", c.url, err, c.want)
		}
		if errors.Is(err, ErrRejected) != c.rejected {
			t.Errorf("%s: err = %v: ErrRejected want %v", c.url, err, c.rejected)
		}
	}
}
