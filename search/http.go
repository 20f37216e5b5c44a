package search

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the HTTP API's OpenAPI 3 description, served at
// /openapi.json.
func OpenAPI() []byte { return openAPI }

// HTTPOptions configure the HTTP API.
type HTTPOptions struct {
	// Token, when set, is the bearer token every /search request must
	// carry (Authorization: Bearer TOKEN); /openapi.json is open.
	Token string
	// MaxUpload is the largest file POST /search/upload accepts, bytes
	// (0: DefaultMaxUpload).
	MaxUpload int64
	// SeriesDir, when set, finds the folder of a series' DICOM files
	// (ok false: not on this machine); the page's thumbnails are then the
	// hit's slice rendered from them (see thumbnail), else a sketch of
	// the series' layout.
	SeriesDir func(seriesUID string) (dir string, ok bool)
	// Searcher, when set, answers the queries and kinds instead of the
	// library: a shard's process gives a Fanout, so that its API and page
	// search the whole library.
	Searcher Searcher
	// Log receives server errors (nil: slog.Default()); never a query's
	// contents, which may name series.
	Log *slog.Logger
}

// DefaultMaxUpload is the largest upload by default: a CT slice is well
// under 1 MiB.
const DefaultMaxUpload = 16 << 20

// maxQueryBody is the largest JSON query accepted.
const maxQueryBody = 1 << 20

// Handler returns the HTTP API:
//
//	GET  /search?kind=&like=&vector=&k=&within=&filter=&limit=&cursor=
//	POST /search                   a Query as JSON
//	POST /search/upload?kind=hist-hu-v1&k=&filter=&limit=   a DICOM image as the body
//	GET  /search/kinds             the kinds, their indexes and feature names
//	GET  /openapi.json
//	GET  /                         the search page (page.go)
//	GET  /search/thumbnail?key=    a hit's layout as PNG, for the page
//	POST /search/sketch?threshold=&limit=   a query by icons drawn on the page
//
// Answers are JSON; an error is {"error": "..."} naming what is wrong,
// with 400 (a bad query), 401 (no or a wrong token), 404 (an unknown kind
// or item), 413 (an upload over MaxUpload) or 415 (an upload that is not
// DICOM).
func (l *Library) Handler(o HTTPOptions) http.Handler {
	if o.MaxUpload <= 0 {
		o.MaxUpload = DefaultMaxUpload
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &handler{l: l, o: o, s: o.Searcher, thumbs: newThumbCache()}
	if h.s == nil {
		h.s = l
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("GET /search", h.auth(h.get))
	mux.HandleFunc("POST /search", h.auth(h.post))
	mux.HandleFunc("POST /search/upload", h.auth(h.upload))
	mux.HandleFunc("GET /search/kinds", h.auth(h.kinds))
	h.pageRoutes(mux)
	return mux
}

type handler struct {
	l      *Library
	s      Searcher // o.Searcher, or l
	o      HTTPOptions
	thumbs *lru.Cache[string, []byte] // thumbnails rendered from DICOM (page.go)
}

// httpError is an answer other than 200.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (h *handler) auth(next http.HandlerFunc) http.HandlerFunc {
	if h.o.Token == "" {
		return next
	}
	want := []byte("Bearer " + h.o.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ctrecon search"`)
			h.reply(w, nil, &httpError{http.StatusUnauthorized, "a bearer token is required: Authorization: Bearer TOKEN (the token serve was given)"})
			return
		}
		next(w, r)
	}
}

// reply writes v as JSON, or err as {"error": ...} with its status.
func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status, msg := statusOf(err, h.o.Log)
		w.WriteHeader(status)
		v = map[string]string{"error": msg}
	}
	json.NewEncoder(w).Encode(v)
}

// statusOf returns the HTTP status of an error and what to tell the
// client: the message of a client's mistake, "internal error" (and a log
// line) for the service's own.
func statusOf(err error, log *slog.Logger) (int, string) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.Is(err, ErrQuery):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, err.Error()
	}
	log.Error("search: answering a request", "err", err)
	return http.StatusInternalServerError, "internal error"
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	q, err := queryOfURL(r.URL.RawQuery)
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	a, err := h.s.Search(r.Context(), q)
	h.reply(w, a, err)
}

// queryOfURL reads a query from URL parameters: kind, like, vector
// (comma-separated), k, within, filter, limit and cursor.
func queryOfURL(raw string) (Query, error) {
	var q Query
	params, err := url.ParseQuery(raw)
	if err != nil {
		return q, badRequest("query string: %v", err)
	}
	for name, vals := range params {
		if len(vals) > 1 {
			return q, badRequest("parameter %s is given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "kind":
			q.Kind = v
		case "like":
			q.Like = v
		case "filter":
			q.Filter = v
		case "cursor":
			q.Cursor = v
		case "vector":
			if q.Vector, err = ParseVector(v); err != nil {
				err = badRequest("parameter vector: %v", err)
			}
		case "k":
			q.K, err = intParam(name, v, MaxK)
		case "limit":
			q.Limit, err = intParam(name, v, MaxLimit)
		case "within":
			var x float64
			x, err = strconv.ParseFloat(v, 64)
			if err != nil || !(x >= 0) || math.IsInf(x, 0) {
				err = badRequest("parameter within: %q is not a distance of 0 or more", v)
			}
			q.Within = &x
		default:
			err = badRequest("parameter %q is unknown (want kind, like, vector, k, within, filter, limit, cursor)", name)
		}
		if err != nil {
			return q, err
		}
	}
	return q, nil
}

// intParam reads an integer from 1 to hi.
func intParam(name, v string, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > hi {
		return 0, badRequest("parameter %s: %q is not an integer from 1 to %d", name, v, hi)
	}
	return n, nil
}

// ParseVector parses a vector written as comma-separated finite numbers;
// the error names the value that is not one.
func ParseVector(s string) ([]float32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty")
	}
	fields := strings.Split(s, ",")
	v := make([]float32, len(fields))
	for i, f := range fields {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("value %d, %q, is not a finite number", i, f)
		}
		v[i] = float32(x)
	}
	return v, nil
}

// jsonQuery is a Query as POST /search reads it: k and limit are pointers
// so that an explicit 0 is refused rather than taken as the default.
type jsonQuery struct {
	Query
	K     *int `json:"k,omitempty"`
	Limit *int `json:"limit,omitempty"`
}

func (h *handler) post(w http.ResponseWriter, r *http.Request) {
	q, err := decodeQuery(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	a, err := h.s.Search(r.Context(), q)
	h.reply(w, a, err)
}

// decodeQuery reads a Query as JSON, refusing unknown fields and an
// explicit k or limit of 0; errors are 400s naming the field.
func decodeQuery(r io.Reader) (Query, error) {
	var jq jsonQuery
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jq); err != nil {
		return Query{}, badRequest("request body: want a query as JSON: %v", err)
	}
	q := jq.Query
	for _, p := range []struct {
		name string
		v    *int
		hi   int
		to   *int
	}{{"k", jq.K, MaxK, &q.K}, {"limit", jq.Limit, MaxLimit, &q.Limit}} {
		if p.v == nil {
			continue
		}
		if *p.v < 1 || *p.v > p.hi {
			return Query{}, badRequest("%s: %d, want 1 to %d", p.name, *p.v, p.hi)
		}
		*p.to = *p.v
	}
	return q, nil
}

// upload answers a query by an uploaded DICOM image: its Hounsfield
// histogram searched among kind hist-hu-v1.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	q, err := queryOfURL(r.URL.RawQuery)
	if err == nil && (q.Like != "" || q.Vector != nil) {
		err = badRequest("an upload is the query: give no like or vector")
	}
	if err == nil && q.Kind != "" && q.Kind != "hist-hu-v1" {
		err = badRequest("kind %q: an uploaded image is searched by its Hounsfield histogram, kind hist-hu-v1", q.Kind)
	}
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxUpload))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.reply(w, nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("upload is over the limit of %d bytes", h.o.MaxUpload)})
		return
	case err != nil:
		h.reply(w, nil, badRequest("reading the upload: %v", err))
		return
	}
	vec, err := histogramOfDICOM(data)
	if errors.Is(err, ErrNotDICOM) {
		err = &httpError{http.StatusUnsupportedMediaType, "upload: " + err.Error()}
	}
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	q.Kind, q.Vector = "hist-hu-v1", vec
	a, err := h.s.Search(r.Context(), q)
	h.reply(w, a, err)
}

func (h *handler) kinds(w http.ResponseWriter, r *http.Request) {
	ks, err := h.s.Kinds(r.Context())
	h.reply(w, map[string]any{"kinds": ks}, err)
}
