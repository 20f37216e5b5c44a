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

// natsConcurrent is how many requests one service answers at once; more
// wait in the connection's buffer.
const natsConcurrent = 32

// Searcher answers queries: a Library, a Fanout over a library's shards,
// or a NATSClient of the service.
type Searcher interface {
	Search(ctx context.Context, q Query) (*Answer, error)
	Kinds(ctx context.Context) ([]KindInfo, error)
}

// endpoint is one of the micro service's: its name, subject and handler.
type endpoint struct {
	name, subject string
	handle        func(ctx context.Context, data []byte) (any, error)
}

// searchEndpoints answers queries and kinds with s, on the subjects of
// query and kinds, under names that start with prefix.
func searchEndpoints(s Searcher, prefix, query, kinds string) []endpoint {
	return []endpoint{
		{prefix + "query", query, func(ctx context.Context, data []byte) (any, error) {
			q, err := decodeQuery(bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			return s.Search(ctx, q)
		}},
		{prefix + "kinds", kinds, func(ctx context.Context, _ []byte) (any, error) {
			ks, err := s.Kinds(ctx)
			return map[string]any{"kinds": ks}, err
		}},
	}
}

// ServeNATS answers queries on nc as a NATS micro service (discovery,
// stats and ping through $SRV) in QueueGroup, so that several replicas
// share the requests, until the returned service is stopped. A request
// that fails gets the micro error headers with the HTTP status as the
// code (400, 404, 500, 503) and the message naming what is wrong. The
// connection's credentials are the deployment's (bus.Connect).
//
// A shard of a library (Config.Shard) answers its shard's subjects (see
// Shard) with its own records, and SubjectQuery and SubjectKinds for the
// whole library through a Fanout over every shard: any shard's process
// can be asked. Its info's metadata names the shard.
func (l *Library) ServeNATS(nc *nats.Conn, log *slog.Logger) (micro.Service, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg := micro.Config{Name: ServiceName, Version: ServiceVersion, QueueGroup: QueueGroup,
		Description: "ctrecon feature search: nearest, within a distance, by filter, by icons"}
	sh := l.cfg.Shard
	if sh.Count == 0 {
		return serveMicro(nc, log, cfg, searchEndpoints(l, "", SubjectQuery, SubjectKinds))
	}
	cfg.Metadata = map[string]string{"shard": sh.String()}
	eps := searchEndpoints(&Fanout{Conn: nc, Shards: sh.Count}, "", SubjectQuery, SubjectKinds)
	eps = append(eps, searchEndpoints(l, "shard-", sh.subject("query"), sh.subject("kinds"))...)
	eps = append(eps, endpoint{"shard-vector", sh.subject("vector"), func(ctx context.Context, data []byte) (any, error) {
		var r likeRequest
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%w: not a like request: %w", ErrQuery, err)
		}
		return l.vectorOf(ctx, r)
	}})
	return serveMicro(nc, log, cfg, eps)
}

// respond publishes a request's answer to its reply subject: v as JSON,
// or err in micro's error headers, as micro.Request's RespondJSON and
// Error would. They are not used because the answer comes from a
// goroutine of its own, after the handler returned, and micro reads the
// request's state then (for its error count): the race detector caught
// that race. So micro's stats ($SRV.STATS) count no errors.
func respond(nc *nats.Conn, log *slog.Logger, reply string, v any, err error) {
	if reply == "" {
		return
	}
	m := &nats.Msg{Subject: reply}
	if err == nil {
		if m.Data, err = json.Marshal(v); err != nil {
			err = fmt.Errorf("encoding the answer: %w", err)
		}
	}
	if err != nil {
		status, msg := statusOf(err, log)
		m.Data, m.Header = nil, nats.Header{micro.ErrorHeader: {msg}, micro.ErrorCodeHeader: {strconv.Itoa(status)}}
	}
	if err := nc.PublishMsg(m); err != nil {
		log.Warn("search: answering a NATS request", "err", err)
	}
}

// serveMicro adds the service of cfg with eps on nc. Each request runs in
// a goroutine of its own, natsConcurrent at most per endpoint: one count
// for all would let a front's queries, each waiting for its shards, take
// every place the shard's own endpoint needs to answer them.
func serveMicro(nc *nats.Conn, log *slog.Logger, cfg micro.Config, eps []endpoint) (micro.Service, error) {
	svc, err := micro.AddService(nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("search: NATS service: %w", err)
	}
	for _, e := range eps {
		busy := make(chan struct{}, natsConcurrent)
		err := svc.AddEndpoint(e.name, micro.HandlerFunc(func(req micro.Request) {
			busy <- struct{}{}
			go func() {
				defer func() { <-busy }()
				ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
				defer cancel()
				v, err := e.handle(ctx, req.Data())
				respond(nc, log, req.Reply(), v, err)
			}()
		}), micro.WithEndpointSubject(e.subject))
		if err != nil {
			svc.Stop()
			return nil, fmt.Errorf("search: NATS endpoint %s: %w", e.subject, err)
		}
	}
	return svc, nil
}
