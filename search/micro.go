package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// The NATS service: name, version, queue group and endpoint subjects.
const (
	ServiceName    = "ctrecon-search"
	ServiceVersion = "1.0.0"
	// QueueGroup is every replica's: each request goes to one of them.
	QueueGroup = "ctrecon-search"
	// SubjectQuery takes a Query as JSON and answers an Answer;
	// SubjectKinds answers {"kinds": [...]} (GET /search/kinds).
	SubjectQuery = "ctrecon.search.query"
	SubjectKinds = "ctrecon.search.kinds"
)

// natsTimeout bounds one request's search.
const natsTimeout = 30 * time.Second

// ServeNATS answers queries on nc as a NATS micro service (discovery,
// stats and ping through $SRV) in QueueGroup, so that several replicas
// share the requests, until the returned service is stopped. A request
// that fails gets the micro error headers with the HTTP status as the
// code (400, 404, 500) and the message naming what is wrong. The
// connection's credentials are the deployment's (bus.Connect).
func (l *Library) ServeNATS(nc *nats.Conn, log *slog.Logger) (micro.Service, error) {
	if log == nil {
		log = slog.Default()
	}
	svc, err := micro.AddService(nc, micro.Config{Name: ServiceName, Version: ServiceVersion, QueueGroup: QueueGroup,
		Description: "ctrecon feature search: nearest, within a distance, by filter, by icons"})
	if err != nil {
		return nil, fmt.Errorf("search: NATS service: %w", err)
	}
	reply := func(req micro.Request, v any, err error) {
		if err != nil {
			status, msg := statusOf(err, log)
			req.Error(strconv.Itoa(status), msg, nil)
			return
		}
		req.RespondJSON(v)
	}
	endpoints := []struct {
		name, subject string
		handle        func(ctx context.Context, data []byte) (any, error)
	}{
		{"query", SubjectQuery, func(ctx context.Context, data []byte) (any, error) {
			q, err := decodeQuery(bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			return l.Search(ctx, q)
		}},
		{"kinds", SubjectKinds, func(ctx context.Context, _ []byte) (any, error) {
			ks, err := l.Kinds(ctx)
			return map[string]any{"kinds": ks}, err
		}},
	}
	for _, e := range endpoints {
		err := svc.AddEndpoint(e.name, micro.HandlerFunc(func(req micro.Request) {
			ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
			defer cancel()
			v, err := e.handle(ctx, req.Data())
			reply(req, v, err)
		}), micro.WithEndpointSubject(e.subject))
		if err != nil {
			svc.Stop()
			return nil, fmt.Errorf("search: NATS endpoint %s: %w", e.subject, err)
		}
	}
	return svc, nil
}

// AskNATS sends q to the search service on nc and returns its answer; a
// service error comes back as an error with its code and message.
func AskNATS(ctx context.Context, nc *nats.Conn, q Query) (*Answer, error) {
	data, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	msg, err := nc.RequestWithContext(ctx, SubjectQuery, data)
	if err != nil {
		return nil, fmt.Errorf("search over NATS: %w", err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, fmt.Errorf("search over NATS: %s: %s", code, msg.Header.Get(micro.ErrorHeader))
	}
	var a Answer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return nil, fmt.Errorf("search over NATS: the answer is not a search answer: %w", err)
	}
	return &a, nil
}
