package index

import (
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/features"
)

// MaxK is the largest k a search request may ask for.
const MaxK = 1000

// DefaultK is k when a search request gives none.
const DefaultK = 10

// A saved index keeps its metas with encoding/gob, which must know the
// concrete types it meets in them: the feature vectors AddFeature stores.
func init() { gob.Register(features.Vector{}) }

// AddFeature stores a feature vector in ix under its key (features.Vector.Key)
// after validating it. The meta stored is v without its values, which the
// index holds anyway; the search handler reads the hits' identifiers from it.
func AddFeature(ix *Exact, v *features.Vector) error {
	if err := v.Validate(); err != nil {
		return err
	}
	meta := *v
	meta.Values = nil
	return ix.Add(v.Key(), v.Values, meta)
}

// NewHandler returns the search service's HTTP handler, to be mounted at
// /search:
//
//	GET /search?like=SERIES_UID[:SLICE][&k=10][&kind=KIND]
//	GET /search?vector=0.1,0.2,...[&k=10][&kind=KIND]
//
// like searches with the vector stored under that key (lookup(key), or
// ix.Get when lookup is nil) and leaves the key itself out of the hits;
// vector searches with the given comma-separated values, which must have
// ix.Dim() of them. k is 1 to MaxK, DefaultK when absent. kind keeps only
// hits whose meta (a features.Vector, as AddFeature stores) is of that kind.
// The answer is JSON:
//
//	{"query": {"like": "1.2.3:40", "kind": "...", "vector": [...]},
//	 "k": 10,
//	 "hits": [{"rank": 1, "key": "1.2.9:41", "distance": 0.012, "study_uid": "...",
//	           "series_uid": "1.2.9", "bin": 0, "slice": 41, "kind": "..."}]}
//
// with hits nearest first and the identifiers present when the hit's meta is
// a features.Vector. A bad request is answered 400, and a like key with no
// vector 404, each with {"error": "..."} naming the parameter.
func NewHandler(ix *Exact, lookup func(key string) ([]float32, bool)) http.Handler {
	if lookup == nil {
		lookup = func(key string) ([]float32, bool) {
			v, _, ok := ix.Get(key)
			return v, ok
		}
	}
	s := &searcher{ix: ix, lookup: lookup}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /search", s.serve)
	return mux
}

type searcher struct {
	ix     *Exact
	lookup func(key string) ([]float32, bool)
}

// SearchQuery is the query a search answer repeats: the like key, if
// given, the kind filter and the query vector.
type SearchQuery struct {
	Like   string    `json:"like,omitempty"`
	Kind   string    `json:"kind,omitempty"`
	Vector []float32 `json:"vector"`
}

// SearchHit is one neighbour in a search answer. Rank counts from 1,
// nearest first; Distance is Euclidean in feature space. The identifiers
// are present when the vector was stored by AddFeature; Slice is -1 for a
// whole volume's vector.
type SearchHit struct {
	Rank      int     `json:"rank"`
	Key       string  `json:"key"`
	Distance  float64 `json:"distance"`
	StudyUID  string  `json:"study_uid,omitempty"`
	SeriesUID string  `json:"series_uid,omitempty"`
	Bin       *int    `json:"bin,omitempty"`
	Slice     *int    `json:"slice,omitempty"`
	Kind      string  `json:"kind,omitempty"`
}

// SearchResponse is the JSON answer of the handler NewHandler returns.
type SearchResponse struct {
	Query SearchQuery `json:"query"`
	K     int         `json:"k"`
	Hits  []SearchHit `json:"hits"`
}

// httpError is an answer other than 200.
type httpError struct {
	status int
	msg    string
}

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (s *searcher) serve(w http.ResponseWriter, r *http.Request) {
	resp, herr := s.search(r.URL.RawQuery)
	w.Header().Set("Content-Type", "application/json")
	if herr != nil {
		w.WriteHeader(herr.status)
		json.NewEncoder(w).Encode(map[string]string{"error": herr.msg})
		return
	}
	json.NewEncoder(w).Encode(resp)
}

func (s *searcher) search(rawQuery string) (*SearchResponse, *httpError) {
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("query string: %v", err)
	}
	for name, vals := range params {
		switch name {
		case "like", "vector", "k", "kind":
		default:
			return nil, badRequest("parameter %q is unknown (want like or vector, k, kind)", name)
		}
		if len(vals) > 1 {
			return nil, badRequest("parameter %s is given %d times", name, len(vals))
		}
	}
	_, hasLike := params["like"]
	_, hasVector := params["vector"]
	switch {
	case hasLike && hasVector:
		return nil, badRequest("parameters like and vector are both given; give one")
	case !hasLike && !hasVector:
		return nil, badRequest("parameter like (a key SERIES_UID[:SLICE]) or vector (comma-separated values) is required")
	}

	k := DefaultK
	if ks, ok := params["k"]; ok {
		n, err := strconv.Atoi(ks[0])
		if err != nil || n < 1 || n > MaxK {
			return nil, badRequest("parameter k: %q is not an integer from 1 to %d", ks[0], MaxK)
		}
		k = n
	}
	q := SearchQuery{Kind: params.Get("kind")}
	if _, ok := params["kind"]; ok && q.Kind == "" {
		return nil, badRequest("parameter kind is empty")
	}

	dim := s.ix.Dim()
	if hasLike {
		series, slice, err := features.ParseKey(params.Get("like"))
		if err != nil {
			return nil, badRequest("parameter like: %v", err)
		}
		q.Like = features.Key(series, slice)
		v, ok := s.lookup(q.Like)
		if !ok {
			return nil, &httpError{http.StatusNotFound, fmt.Sprintf("parameter like: no vector is stored under key %q", q.Like)}
		}
		if dim != 0 && len(v) != dim {
			return nil, badRequest("parameter like: the vector stored under key %q has %d values, the index holds %d-dimensional vectors", q.Like, len(v), dim)
		}
		q.Vector = v
	} else {
		v, herr := parseVector(params.Get("vector"))
		if herr != nil {
			return nil, herr
		}
		if dim != 0 && len(v) != dim {
			return nil, badRequest("parameter vector has %d values, the index holds %d-dimensional vectors", len(v), dim)
		}
		q.Vector = v
	}

	filter := func(key string, meta any) bool {
		if key == q.Like {
			return false
		}
		if q.Kind == "" {
			return true
		}
		f, ok := asFeature(meta)
		return ok && f.Kind == q.Kind
	}
	hits := s.ix.Search(q.Vector, k, filter)
	resp := &SearchResponse{Query: q, K: k, Hits: make([]SearchHit, len(hits))}
	for i, h := range hits {
		out := SearchHit{Rank: i + 1, Key: h.Key, Distance: h.Distance}
		if f, ok := asFeature(h.Meta); ok {
			out.StudyUID, out.SeriesUID, out.Kind = f.StudyUID, f.SeriesUID, f.Kind
			bin, slice := f.Bin, f.Slice
			out.Bin, out.Slice = &bin, &slice
		}
		resp.Hits[i] = out
	}
	return resp, nil
}

// parseVector parses comma-separated float32 values.
func parseVector(s string) ([]float32, *httpError) {
	if strings.TrimSpace(s) == "" {
		return nil, badRequest("parameter vector is empty")
	}
	fields := strings.Split(s, ",")
	v := make([]float32, len(fields))
	for i, f := range fields {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, badRequest("parameter vector: value %d, %q, is not a finite number", i, f)
		}
		v[i] = float32(x)
	}
	return v, nil
}

// asFeature returns the identifiers of a meta stored by AddFeature.
func asFeature(meta any) (*features.Vector, bool) {
	switch m := meta.(type) {
	case features.Vector:
		return &m, true
	case *features.Vector:
		return m, m != nil
	}
	return nil, false
}
