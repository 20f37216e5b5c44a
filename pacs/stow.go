// Package pacs uploads DICOM instances to a PACS with DICOMweb STOW-RS
// (PS3.18 section 10.5), the one network protocol every current PACS
// speaks over HTTP.
package pacs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Instance is one DICOM file to upload and the SOP Instance UID inside it,
// which the PACS's answer refers to.
type Instance struct {
	Path           string
	SOPInstanceUID string
}

// Client stores instances at a DICOMweb service.
type Client struct {
	// BaseURL is the DICOMweb root, e.g. http://pacs:8042/dicom-web; the
	// client posts to BaseURL + "/studies".
	BaseURL string
	// HTTP is the client to use (nil: a client with a 60 s timeout).
	HTTP *http.Client
	// User and Password, if set, are sent as HTTP basic authentication.
	User, Password string
	// Batch is the number of instances per request (0: 16).
	Batch int
	// RetryBudget bounds the time Store spends on requests that failed
	// transiently (network error, HTTP 408, 429 or 5xx): from a request's
	// first failure to its success or giving up, the waits and re-sent
	// requests, added up over the whole upload (0: DefaultRetryBudget).
	// A retry whose wait would end past the budget is not made, and one
	// under way when the budget ends is cut off; the batch fails with the
	// PACS's last answer or network error. Anything else (4xx) is not
	// retried.
	RetryBudget time.Duration
	// Backoff is the wait before the first retry (0: 500 ms); each next
	// wait is twice as long, at most 15 s, with 20 % jitter.
	Backoff time.Duration
	// Progress, if set, is called after each request with the instances
	// sent so far (stored or failed) and the total.
	Progress func(sent, total int)
	// OnRetry, if set, is called before each wait for a retry.
	OnRetry func(Retry)
}

// DefaultRetryBudget is Client.RetryBudget when it is not set: long enough
// to ride out a PACS restart, short enough that a PACS gone for good is
// reported within minutes.
const DefaultRetryBudget = 2 * time.Minute

// Retry is the state of an upload request that failed transiently and is
// to be sent again.
type Retry struct {
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Err is why it failed.
	Err error
	// Wait is the time until the next attempt.
	Wait time.Duration
	// BudgetLeft is what remains of the upload's retry budget after the
	// wait.
	BudgetLeft time.Duration
}

// String says what failed and what happens next, for a log or a status.
func (r Retry) String() string {
	return fmt.Sprintf("attempt %d failed (%v); attempt %d in %v, %v of the retry budget left",
		r.Attempt, r.Err, r.Attempt+1, r.Wait.Round(time.Millisecond), r.BudgetLeft.Round(time.Second))
}

// Failure is an instance the PACS did not store, and why.
type Failure struct {
	Instance Instance
	Reason   string
	// Rejected is true when the PACS refused the instance for good (see
	// ErrRejected).
	Rejected bool
}

// Result says what was stored.
type Result struct {
	Stored []Instance
	Failed []Failure
}

// ErrPartial is returned, wrapped, when some instances were not stored.
var ErrPartial = errors.New("pacs: upload incomplete")

// ErrRejected is wrapped, besides ErrPartial, when the PACS refused an
// instance for a reason that sending it again cannot change: an HTTP 4xx
// other than 408 (timeout) and 429 (too many requests), such as 400 (bad
// request), 401 or 403 (credentials), 404 (no such service), 413 or 415;
// or, in a STOW-RS answer, a failure reason of the Cxxx (cannot
// understand), A9xx (does not match its SOP class) or 0x0122/0x0124 (SOP
// class not supported, not authorized) kinds. Ping wraps it for the same
// HTTP statuses. Busy, out of resources (A7xx), 5xx and network errors
// are transient and not wrapped.
var ErrRejected = errors.New("refused by the PACS: sending again cannot help")

// Store uploads the instances in batches. It returns ErrPartial, naming
// how many failed and the first reason, when any instance was not stored;
// the Result lists each one. A cancelled context stops it between requests.
func (c *Client) Store(ctx context.Context, instances []Instance) (Result, error) {
	var res Result
	batch := c.Batch
	if batch <= 0 {
		batch = 16
	}
	budget := c.RetryBudget
	if budget <= 0 {
		budget = DefaultRetryBudget
	}
	for start := 0; start < len(instances); start += batch {
		part := instances[start:min(start+batch, len(instances))]
		stored, failed := c.storeBatch(ctx, part, &budget)
		res.Stored = append(res.Stored, stored...)
		res.Failed = append(res.Failed, failed...)
		if c.Progress != nil {
			c.Progress(start+len(part), len(instances))
		}
		if ctx.Err() != nil {
			for _, in := range instances[start+len(part):] {
				res.Failed = append(res.Failed, Failure{Instance: in, Reason: "not sent: " + ctx.Err().Error()})
			}
			break
		}
	}
	if len(res.Failed) > 0 {
		err := fmt.Errorf("%w: %d of %d instances not stored at %s (first: %s: %s)", ErrPartial,
			len(res.Failed), len(instances), c.BaseURL, res.Failed[0].Instance.Path, res.Failed[0].Reason)
		if slices.ContainsFunc(res.Failed, func(f Failure) bool { return f.Rejected }) {
			err = fmt.Errorf("%w; %w", err, ErrRejected)
		}
		return res, err
	}
	return res, nil
}

// rejected reports whether an HTTP status refuses a request for good (see
// ErrRejected).
func rejected(status int) bool {
	return status >= 400 && status < 500 && status != 408 && status != 429
}

// storeBatch sends one request, retrying transient failures within what
// is left of the retry budget (which it reduces by the time it spent
// retrying), and sorts the batch into stored and failed from the PACS's
// answer.
func (c *Client) storeBatch(ctx context.Context, batch []Instance, budget *time.Duration) (stored []Instance, failed []Failure) {
	body, contentType, err := multipartBody(batch)
	if err != nil {
		return nil, failAll(batch, err.Error(), false)
	}
	b := &budgetBackOff{ExponentialBackOff: backoff.ExponentialBackOff{InitialInterval: c.Backoff,
		RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 15 * time.Second}}
	if b.InitialInterval <= 0 {
		b.InitialInterval = 500 * time.Millisecond
	}
	attempt := 0
	var last answer // the previous attempt's answer and error
	var lastErr error
	send := func() (answer, error) {
		attempt++
		actx, cancel := ctx, context.CancelFunc(func() {})
		if attempt > 1 { // a retry ends with the budget
			actx, cancel = context.WithDeadline(ctx, b.deadline)
		}
		defer cancel()
		a, err := c.post(actx, body, contentType)
		if err != nil && attempt > 1 && ctx.Err() == nil && actx.Err() != nil {
			// The budget ended during this retry: what the PACS said before
			// is the reason, not the deadline that cut the request.
			return last, backoff.Permanent(lastErr)
		}
		if err == nil && (a.status == 408 || a.status == 429 || a.status >= 500) {
			err = fmt.Errorf("HTTP %d: %s", a.status, firstLine(a.body))
		}
		if err != nil && attempt == 1 {
			b.deadline = time.Now().Add(*budget)
		}
		last, lastErr = a, err
		return a, err
	}
	notify := func(err error, wait time.Duration) {
		if c.OnRetry != nil {
			c.OnRetry(Retry{Attempt: attempt, Err: err, Wait: wait, BudgetLeft: time.Until(b.deadline) - wait})
		}
	}
	a, err := backoff.Retry(ctx, send, backoff.WithBackOff(b), backoff.WithNotify(notify), backoff.WithMaxElapsedTime(0))
	if !b.deadline.IsZero() { // it failed at least once: the retries took their time
		*budget = max(0, time.Until(b.deadline))
	}
	if err != nil && a.status == 0 { // no answer
		if attempt > 1 {
			err = fmt.Errorf("%w (%d attempts)", err, attempt)
		}
		return nil, failAll(batch, err.Error(), false)
	}
	return sortAnswer(batch, a.status, a.body)
}

// budgetBackOff is an exponential backoff that stops when the next wait
// would end past deadline.
type budgetBackOff struct {
	backoff.ExponentialBackOff
	deadline time.Time
}

func (b *budgetBackOff) NextBackOff() time.Duration {
	d := b.ExponentialBackOff.NextBackOff()
	if d == backoff.Stop || time.Now().Add(d).After(b.deadline) {
		return backoff.Stop
	}
	return d
}

func failAll(batch []Instance, reason string, rejected bool) []Failure {
	out := make([]Failure, len(batch))
	for i, in := range batch {
		out[i] = Failure{in, reason, rejected}
	}
	return out
}

// multipartBody builds a multipart/related body of application/dicom parts.
func multipartBody(batch []Instance) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, in := range batch {
		data, err := os.ReadFile(in.Path)
		if err != nil {
			return nil, "", err
		}
		part, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return nil, "", err
		}
		part.Write(data)
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, w.Boundary()), nil
}

// answer is a PACS's answer to a request: its HTTP status and body.
type answer struct {
	status int
	body   []byte
}

// post sends one STOW-RS request; an error means no complete answer.
func (c *Client) post(ctx context.Context, body []byte, contentType string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/studies", bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/dicom+json")
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return answer{}, err
	}
	return answer{resp.StatusCode, data}, nil
}

// sortAnswer reads the STOW-RS response: ReferencedSOPSequence (0008,1199)
// lists what was stored, FailedSOPSequence (0008,1198) what was not, with a
// FailureReason (0008,1197). An instance counts as stored only when the
// status is a success (2xx, or 409: some stored) and the answer lists its
// UID among the stored and not among the failed: a PACS that says nothing
// about an instance, or contradicts itself, has not confirmed it.
func sortAnswer(batch []Instance, status int, answer []byte) (stored []Instance, failed []Failure) {
	var doc map[string]json.RawMessage
	success := status >= 200 && status < 300 || status == 409
	if !success || json.Unmarshal(answer, &doc) != nil {
		reason := fmt.Sprintf("HTTP %d: %s", status, firstLine(answer))
		if success {
			reason = "unreadable STOW-RS response: " + firstLine(answer)
		}
		return nil, failAll(batch, reason, !success && rejected(status))
	}
	ok := map[string]bool{}
	for _, item := range sequence(doc["00081199"]) {
		if uid, isText := first(item["00081155"]); isText && uid != "" {
			ok[uid] = true
		}
	}
	why := map[string]Failure{}
	for _, item := range sequence(doc["00081198"]) {
		if uid, isText := first(item["00081155"]); isText && uid != "" {
			reason, _ := first(item["00081197"])
			why[uid] = Failure{Reason: "PACS failure reason " + reasonText(reason), Rejected: rejectedReason(reason)}
		}
	}
	for _, in := range batch {
		switch f, failedHere := why[in.SOPInstanceUID]; {
		case failedHere:
			f.Instance = in
			failed = append(failed, f)
		case ok[in.SOPInstanceUID]:
			stored = append(stored, in)
		default:
			failed = append(failed, Failure{Instance: in, Reason: fmt.Sprintf("HTTP %d: not confirmed by the PACS", status)})
		}
	}
	return stored, failed
}

// reasons are the standard meanings of the codes a STOW-RS answer gives in
// FailureReason (0008,1197) and WarningReason (0008,1196): PS3.18's store
// instances response and PS3.4 Annex GG, with PS3.7 Annex C's statuses.
var reasons = map[uint64]string{
	0x0107: "Attribute list error",
	0x0110: "Processing failure",
	0x0122: "Referenced SOP Class not supported",
	0x0124: "Not authorized",
	0xA700: "Out of resources",
	0xA900: "Data set does not match SOP Class",
	0xB000: "Coercion of data elements",
	0xB006: "Elements discarded",
	0xB007: "Data set does not match SOP Class",
	0xC000: "Cannot understand",
	0xC122: "Referenced Transfer Syntax not supported",
}

// rejectedReason reports whether a FailureReason (a US in decimal, as
// DICOM JSON holds it) refuses the instance for good: the instance is not
// understood (Cxxx), does not match its SOP class (A9xx), or its class is
// not supported or not authorized (0x0122, 0x0124).
func rejectedReason(value string) bool {
	code, err := strconv.ParseUint(value, 10, 16)
	return err == nil && (code>>12 == 0xC || code>>8 == 0xA9 || code == 0x0122 || code == 0x0124)
}

// reasonText writes a FailureReason or WarningReason, a US that DICOM JSON
// holds as a decimal number (42752), in hexadecimal as DICOM writes status
// codes, with its meaning: "0xA700 (Out of resources)". Codes of the
// standard's ranges (A7xx, A9xx, Cxxx) get the range's meaning, others only
// the hexadecimal; a value that is not a US is returned as it is.
func reasonText(value string) string {
	code, err := strconv.ParseUint(value, 10, 16)
	if err != nil {
		return value
	}
	meaning := reasons[code]
	switch {
	case meaning != "":
	case code>>8 == 0xA7, code>>8 == 0xA9:
		meaning = reasons[code&^0xFF]
	case code>>12 == 0xC:
		meaning = reasons[0xC000]
	default:
		return fmt.Sprintf("0x%04X", code)
	}
	return fmt.Sprintf("0x%04X (%s)", code, meaning)
}

// attributes are a DICOM JSON object's attributes by tag (PS3.18 annex F).
type attributes map[string]json.RawMessage

// values returns an attribute's "Value" array. The key is matched exactly,
// as DICOM JSON spells it: encoding/json's struct fields would also take
// "value" or "VALUE".
func values(raw json.RawMessage) []json.RawMessage {
	var attr map[string]json.RawMessage
	var vals []json.RawMessage
	if json.Unmarshal(raw, &attr) != nil || json.Unmarshal(attr["Value"], &vals) != nil {
		return nil
	}
	return vals
}

// sequence returns the items of a DICOM JSON sequence attribute.
func sequence(raw json.RawMessage) []attributes {
	var items []attributes
	for _, v := range values(raw) {
		var item attributes
		if json.Unmarshal(v, &item) == nil {
			items = append(items, item)
		}
	}
	return items
}

// first returns an attribute's first value as text, and whether it was a
// JSON string (a UID must be one; a number such as a failure reason is
// returned as written).
func first(raw json.RawMessage) (string, bool) {
	vals := values(raw)
	if len(vals) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(vals[0], &s) == nil {
		return s, true
	}
	return firstLine(vals[0]), false
}

// firstLine returns the first line of b for a message: its first 200
// bytes, each run of invalid UTF-8 (a character cut there included)
// replaced by "?".
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.ToValidUTF8(s[:min(len(s), 200)], "?")
}
