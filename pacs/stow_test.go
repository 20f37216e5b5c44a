package pacs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// instances writes n small files standing in for DICOM instances.
func instances(t *testing.T, n int) []Instance {
	dir := t.TempDir()
	var out []Instance
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("IM%04d.dcm", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("instance %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, Instance{Path: p, SOPInstanceUID: fmt.Sprintf("1.2.3.%d", i)})
	}
	return out
}

// fakePACS parses each STOW-RS request and answers with answer(uids).
func fakePACS(t *testing.T, answer func(call int, uids []string) (int, string)) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := int(calls.Add(1))
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/related" || params["type"] != "application/dicom" || r.URL.Path != "/dicom-web/studies" {
			t.Errorf("request %s %s with Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var uids []string
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(part)
			if part.Header.Get("Content-Type") != "application/dicom" || !strings.HasPrefix(string(body), "instance ") {
				t.Errorf("part %q with Content-Type %q", body, part.Header.Get("Content-Type"))
			}
			uids = append(uids, "1.2.3."+strings.TrimPrefix(string(body), "instance "))
		}
		status, body := answer(call, uids)
		w.Header().Set("Content-Type", "application/dicom+json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func referenced(uids []string, failed map[string]bool) string {
	var ok, bad []string
	for _, u := range uids {
		item := fmt.Sprintf(`{"00081155":{"vr":"UI","Value":["%s"]}}`, u)
		if failed[u] {
			bad = append(bad, strings.TrimSuffix(item, "}")+`,"00081197":{"vr":"US","Value":[272]}}`)
		} else {
			ok = append(ok, item)
		}
	}
	return fmt.Sprintf(`{"00081199":{"vr":"SQ","Value":[%s]},"00081198":{"vr":"SQ","Value":[%s]}}`, strings.Join(ok, ","), strings.Join(bad, ","))
}

// A PACS that answers 503 twice is retried, and every retry is reported
// with the attempt that failed, why, the wait and the budget left; the
// upload's progress is reported after each request. Before, retries were
// silent and there was no progress.
func TestStoreRetriesTransientFailures(t *testing.T) {
	srv, calls := fakePACS(t, func(call int, uids []string) (int, string) {
		if call <= 2 {
			return 503, "busy"
		}
		return 200, referenced(uids, nil)
	})
	var retries []Retry
	var sent [][2]int
	c := &Client{BaseURL: srv.URL + "/dicom-web", Backoff: time.Millisecond, Batch: 5,
		OnRetry:  func(r Retry) { retries = append(retries, r) },
		Progress: func(n, total int) { sent = append(sent, [2]int{n, total}) }}
	res, err := c.Store(context.Background(), instances(t, 7))
	if err != nil || len(res.Stored) != 7 || calls.Load() != 4 {
		t.Fatalf("err %v, stored %d, requests %d; want nil, 7, 4", err, len(res.Stored), calls.Load())
	}
	if len(retries) != 2 {
		t.Fatalf("%d retries reported, want 2: %v", len(retries), retries)
	}
	for i, r := range retries {
		if r.Attempt != i+1 || !strings.Contains(r.Err.Error(), "HTTP 503: busy") || r.Wait <= 0 || r.BudgetLeft <= 0 || r.BudgetLeft > DefaultRetryBudget {
			t.Errorf("retry %d: %+v", i, r)
		}
		if msg := r.String(); !strings.Contains(msg, fmt.Sprintf("attempt %d failed (HTTP 503: busy); attempt %d in ", i+1, i+2)) {
			t.Errorf("retry %d reads %q", i, msg)
		}
	}
	if want := [][2]int{{5, 7}, {7, 7}}; fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Errorf("progress %v, want %v", sent, want)
	}
}

// The retry budget bounds the retries of the whole upload: against a PACS
// that keeps answering 503, the waits of all batches together fit in it.
// Before, every batch was
// retried 4 times (waits doubling from Backoff), whatever the time.
func TestStoreRetryBudget(t *testing.T) {
	srv, calls := fakePACS(t, func(int, []string) (int, string) { return 503, "restarting" })
	const budget = 300 * time.Millisecond
	var waited time.Duration
	var retries int
	c := &Client{BaseURL: srv.URL + "/dicom-web", Backoff: 20 * time.Millisecond, RetryBudget: budget, Batch: 2,
		OnRetry: func(r Retry) { retries++; waited += r.Wait }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	res, err := c.Store(ctx, instances(t, 12))
	if !errors.Is(err, ErrPartial) || len(res.Failed) != 12 || !strings.Contains(err.Error(), "HTTP 503: restarting") {
		t.Fatalf("err %v, failed %d", err, len(res.Failed))
	}
	// Each announced retry is a request, but for the last one: a loaded
	// machine can wake from its wait past the budget's end, and then that
	// retry is not sent (the budget is spent, so no batch retries after).
	if n := int(calls.Load()); retries == 0 || waited > budget || n != 6+retries && n != 5+retries {
		t.Errorf("%d requests for 6 batches, %d retries waiting %v in all; want retries, waits within the budget of %v", n, retries, waited, budget)
	}
}

// A retry that the budget's end cuts short reports what the PACS said
// before, not the deadline that cut it. Before, the upload failed with
// "context deadline exceeded", hiding the PACS's "HTTP 503" (CI of stop
// 22 met it in TestStoreRetryBudget on a loaded machine).
func TestStoreRetryCutByBudget(t *testing.T) {
	hold := make(chan struct{})
	srv, calls := fakePACS(t, func(call int, _ []string) (int, string) {
		if call > 1 {
			<-hold // past the budget: the client gives up first
		}
		return 503, "restarting"
	})
	defer close(hold)
	// The budget is long beside the 10 ms wait, so that the retry is sent
	// even when a loaded machine wakes late from that wait.
	c := &Client{BaseURL: srv.URL + "/dicom-web", Backoff: 10 * time.Millisecond, RetryBudget: time.Second}
	res, err := c.Store(context.Background(), instances(t, 2))
	if !errors.Is(err, ErrPartial) || len(res.Failed) != 2 || calls.Load() != 2 {
		t.Fatalf("err %v, failed %d, requests %d; want ErrPartial, 2, 2", err, len(res.Failed), calls.Load())
	}
	if !strings.Contains(err.Error(), "HTTP 503: restarting") || strings.Contains(err.Error(), "deadline") {
		t.Errorf("error %q: want the PACS's HTTP 503, not the budget's deadline", err)
	}
}

func TestStoreReportsPartialUpload(t *testing.T) {
	srv, _ := fakePACS(t, func(_ int, uids []string) (int, string) {
		return 202, referenced(uids, map[string]bool{"1.2.3.4": true})
	})
	c := &Client{BaseURL: srv.URL + "/dicom-web", Batch: 3}
	res, err := c.Store(context.Background(), instances(t, 8))
	if !errors.Is(err, ErrPartial) || len(res.Stored) != 7 || len(res.Failed) != 1 || res.Failed[0].Instance.SOPInstanceUID != "1.2.3.4" {
		t.Fatalf("err %v, stored %d, failed %+v", err, len(res.Stored), res.Failed)
	}
	if !strings.Contains(err.Error(), "1 of 8") || !strings.Contains(res.Failed[0].Reason, "0x0110 (Processing failure)") {
		t.Errorf("error %q / reason %q should say how many and why", err, res.Failed[0].Reason)
	}
}

// The PACS's FailureReason, a number in DICOM JSON (42752), is reported in
// hexadecimal as DICOM writes status codes (0xA700), with its standard
// meaning. Before, the reason read "PACS failure reason 42752".
func TestStoreFailureReasonsInHex(t *testing.T) {
	want := map[string]string{
		"42752": "0xA700 (Out of resources)",
		"43264": "0xA900 (Data set does not match SOP Class)",
		"49152": "0xC000 (Cannot understand)",
		"272":   "0x0110 (Processing failure)",
		"290":   "0x0122 (Referenced SOP Class not supported)",
		"292":   "0x0124 (Not authorized)",
		"45056": "0xB000 (Coercion of data elements)",
		"45062": "0xB006 (Elements discarded)",
		"45063": "0xB007 (Data set does not match SOP Class)",
		"263":   "0x0107 (Attribute list error)",
		"42753": "0xA701 (Out of resources)", // the A7xx range
		"49442": "0xC122 (Referenced Transfer Syntax not supported)",
		"53247": "0xCFFF (Cannot understand)", // the Cxxx range
		"4660":  "0x1234",                     // no standard meaning
	}
	var codes []string
	for code := range want {
		codes = append(codes, code)
	}
	srv, _ := fakePACS(t, func(_ int, uids []string) (int, string) {
		var items []string
		for i, u := range uids {
			items = append(items, fmt.Sprintf(`{"00081155":{"vr":"UI","Value":["%s"]},"00081197":{"vr":"US","Value":[%s]}}`, u, codes[i]))
		}
		return 409, fmt.Sprintf(`{"00081198":{"vr":"SQ","Value":[%s]}}`, strings.Join(items, ","))
	})
	c := &Client{BaseURL: srv.URL + "/dicom-web", Batch: len(codes)}
	res, err := c.Store(context.Background(), instances(t, len(codes)))
	if !errors.Is(err, ErrPartial) || len(res.Failed) != len(codes) {
		t.Fatalf("err %v, failed %d, want all %d", err, len(res.Failed), len(codes))
	}
	for i, f := range res.Failed {
		if w := "PACS failure reason " + want[codes[i]]; f.Reason != w {
			t.Errorf("FailureReason %s: reason %q, want %q", codes[i], f.Reason, w)
		}
	}
}

func TestStoreDoesNotRetryPermanentErrors(t *testing.T) {
	srv, calls := fakePACS(t, func(int, []string) (int, string) { return 400, "bad request" })
	c := &Client{BaseURL: srv.URL + "/dicom-web", Backoff: time.Millisecond}
	res, err := c.Store(context.Background(), instances(t, 2))
	if !errors.Is(err, ErrPartial) || len(res.Failed) != 2 || calls.Load() != 1 || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("err %v, failed %d, requests %d", err, len(res.Failed), calls.Load())
	}
}

func TestStoreUnreachable(t *testing.T) {
	c := &Client{BaseURL: "http://127.0.0.1:1/dicom-web", RetryBudget: 10 * time.Millisecond, Backoff: time.Millisecond}
	res, err := c.Store(context.Background(), instances(t, 2))
	if !errors.Is(err, ErrPartial) || len(res.Failed) != 2 {
		t.Fatalf("err %v, failed %d", err, len(res.Failed))
	}
}

// A PACS's refusal that sending again cannot change (HTTP 400, 401, 403,
// 404, 415; a failure reason 0xC000 or 0xA900) is ErrRejected, sent once;
// a busy or broken PACS (408, 429, 503; failure reason 0xA700 out of
// resources, 0x0110 processing failure) is not.
func TestStoreRejectedOnlyForGood(t *testing.T) {
	failedWith := func(code int) func(int, []string) (int, string) {
		return func(_ int, uids []string) (int, string) {
			body := referenced(uids, map[string]bool{uids[0]: true})
			return 409, strings.Replace(body, `"Value":[272]`, fmt.Sprintf(`"Value":[%d]`, code), 1)
		}
	}
	status := func(code int) func(int, []string) (int, string) {
		return func(int, []string) (int, string) { return code, "no\n" }
	}
	for _, tc := range []struct {
		name     string
		answer   func(int, []string) (int, string)
		rejected bool
	}{
		{"400", status(400), true}, {"401", status(401), true}, {"403", status(403), true},
		{"404", status(404), true}, {"415", status(415), true},
		{"reason 0xC000", failedWith(0xC000), true}, {"reason 0xA900", failedWith(0xA900), true},
		{"408", status(408), false}, {"429", status(429), false}, {"503", status(503), false},
		{"reason 0xA700", failedWith(0xA700), false}, {"reason 0x0110", failedWith(0x0110), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakePACS(t, tc.answer)
			c := &Client{BaseURL: srv.URL + "/dicom-web", RetryBudget: 50 * time.Millisecond, Backoff: 10 * time.Millisecond}
			res, err := c.Store(context.Background(), instances(t, 2))
			if !errors.Is(err, ErrPartial) || errors.Is(err, ErrRejected) != tc.rejected {
				t.Fatalf("error %v: want ErrPartial, ErrRejected %v", err, tc.rejected)
			}
			if res.Failed[0].Rejected != tc.rejected {
				t.Errorf("failure %+v: Rejected want %v", res.Failed[0], tc.rejected)
			}
			if tc.rejected && calls.Load() != 1 {
				t.Errorf("%d requests for a refusal, want 1", calls.Load())
			}
		})
	}
}
