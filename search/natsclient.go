package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Retry bounds how a request to the search service over NATS is retried
// when no replica answers it: a replica killed while it held the request
// never answers (the try times out), and while none listens the server
// says so at once (no responders: the next try waits 50 ms, doubling).
// Queries only read, so a second try is safe. An answer, even an error,
// is never retried.
type Retry struct {
	// Attempts is how many tries in all (0: DefaultRetry's).
	Attempts int
	// Timeout is how long one try waits for an answer (0: DefaultRetry's),
	// within the context's deadline.
	Timeout time.Duration
}

// DefaultRetry is AskNATS's and a Fanout's: three tries of up to 10 s
// each. A try's timeout is below natsTimeout, the service's own bound on
// a search, so a search that slow is cut short and tried again; raise it
// for ranges over a large library.
var DefaultRetry = Retry{Attempts: 3, Timeout: 10 * time.Second}

// ServiceError is the service's answer to a request it could not serve:
// Code is the HTTP status (400 a bad query, 404 an unknown kind or item,
// 5xx its own failure) and Message names what is wrong.
type ServiceError struct {
	Code    int
	Message string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("search over NATS: %d: %s", e.Code, e.Message)
}

// Unwrap is ErrQuery for a 400 and ErrNotFound for a 404.
func (e *ServiceError) Unwrap() error {
	switch e.Code {
	case 400:
		return ErrQuery
	case 404:
		return ErrNotFound
	}
	return nil
}

// NATSClient asks the search service over NATS: any replica of it, or of
// a sharded library's shards (whose processes answer for the whole
// library through a Fanout).
type NATSClient struct {
	Conn *nats.Conn
	// Retry is each request's (zero: DefaultRetry).
	Retry Retry
}

// Search sends q to SubjectQuery and returns the answer; a service error
// is a *ServiceError with its code and message.
func (c NATSClient) Search(ctx context.Context, q Query) (*Answer, error) {
	var a Answer
	if err := request(ctx, c.Conn, SubjectQuery, q, &a, c.Retry); err != nil {
		return nil, err
	}
	return &a, nil
}

// Kinds asks SubjectKinds for the kinds of the library.
func (c NATSClient) Kinds(ctx context.Context) ([]KindInfo, error) {
	var k struct{ Kinds []KindInfo }
	if err := request(ctx, c.Conn, SubjectKinds, struct{}{}, &k, c.Retry); err != nil {
		return nil, err
	}
	return k.Kinds, nil
}

// AskNATS sends q to the search service on nc and returns its answer,
// trying again as DefaultRetry says when no replica answers; a service
// error is a *ServiceError with its code and message.
func AskNATS(ctx context.Context, nc *nats.Conn, q Query) (*Answer, error) {
	return NATSClient{Conn: nc}.Search(ctx, q)
}

// request sends req as JSON to subject and decodes the answer into out,
// trying again as r says when no one answers. A service's error is a
// *ServiceError.
func request(ctx context.Context, nc *nats.Conn, subject string, req, out any, r Retry) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if r.Attempts <= 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultRetry.Timeout
	}
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, r.Timeout)
		msg, err := nc.RequestWithContext(tctx, subject, data)
		cancel()
		switch {
		case err == nil:
			return decodeReply(msg, subject, out)
		case ctx.Err() != nil || try >= r.Attempts:
			return fmt.Errorf("search over NATS: %s: %d tries: %w", subject, try, err)
		case errors.Is(err, nats.ErrNoResponders):
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait *= 2
		case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout):
			return fmt.Errorf("search over NATS: %s: %w", subject, err)
		}
	}
}

// decodeReply decodes a micro service's answer: a *ServiceError when its
// headers say the request failed.
func decodeReply(msg *nats.Msg, subject string, out any) error {
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		n, err := strconv.Atoi(code)
		if err != nil {
			n = 500
		}
		return &ServiceError{Code: n, Message: msg.Header.Get(micro.ErrorHeader)}
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("search over NATS: the answer of %s is not one: %w", subject, err)
	}
	return nil
}
