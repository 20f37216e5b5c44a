package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/features/records"
	sp "github.com/ctrecon/ctrecon/features/spatial"
)

// api is an HTTP server of a library whose every answer the tests check
// against the OpenAPI file the server serves.
type api struct {
	t      *testing.T
	srv    *httptest.Server
	router routers.Router
	token  string
}

func newAPI(t *testing.T, l *Library, o HTTPOptions) *api {
	t.Helper()
	srv := httptest.NewServer(l.Handler(o))
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, token: o.Token}
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	if a.router, err = legacyrouter.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	return a
}

// do sends a request, validates the response against the OpenAPI file and
// returns its status and body.
func (a *api) do(method, path, ctype string, body []byte) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		a.t.Fatalf("%s %s: not in openapi.json: %v", method, path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(out)),
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		a.t.Errorf("%s %s: %d %s: breaks openapi.json: %v", method, path, resp.StatusCode, out, err)
	}
	return resp.StatusCode, out
}

func (a *api) answer(method, path string, body any) *Answer {
	a.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	code, out := a.do(method, path, "application/json", b)
	if code != http.StatusOK {
		a.t.Fatalf("%s %s: %d %s", method, path, code, out)
	}
	var ans Answer
	if err := json.Unmarshal(out, &ans); err != nil {
		a.t.Fatal(err)
	}
	return &ans
}

// TestHTTPAnswers: the API answers as the library does, for every kind
// of query, each answer valid under openapi.json.
func TestHTTPAnswers(t *testing.T) {
	recs := fixtureRecords(40, 10)
	l := openFixture(t, Config{}, recs)
	a := newAPI(t, l, HTTPOptions{})
	r := ofKind(recs, "radiomics-v1")[2]
	like := ItemOf(&r).String()
	for _, c := range []struct {
		method, path string
		body         any
		q            Query
	}{
		{"GET", "/search?kind=radiomics-v1&k=5&like=" + url.QueryEscape(like), nil, Query{Kind: "radiomics-v1", K: 5, Like: like}},
		{"GET", "/search?kind=radiomics-v1&limit=4&filter=" + url.QueryEscape("volume > 300 and class = 'bone'"), nil, Query{Kind: "radiomics-v1", Limit: 4, Filter: "volume > 300 and class = 'bone'"}},
		{"GET", "/search?kind=hist-hu-v1&within=5&vector=" + strings.Repeat("0.1,", histDim-1) + "0.1", nil, Query{Kind: "hist-hu-v1", Within: ptr(5.0), Vector: []float32{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}}},
		{"POST", "/search", map[string]any{"kind": "radiomics-v1", "like": like, "k": 4, "filter": "bin = 0"}, Query{Kind: "radiomics-v1", Like: like, K: 4, Filter: "bin = 0"}},
		{"POST", "/search", Query{Icons: &sp.Query{Mandatory: []sp.QueryObject{{Name: "A", Class: "bone"}}, Threshold: 0.5}}, Query{Icons: &sp.Query{Mandatory: []sp.QueryObject{{Name: "A", Class: "bone"}}, Threshold: 0.5}}},
	} {
		got := a.answer(c.method, c.path, c.body)
		want, err := l.Search(context.Background(), c.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Hits) == 0 || len(got.Hits) != len(want.Hits) || got.Index != want.Index || got.Next != want.Next || fmt.Sprint(got.Total) != fmt.Sprint(want.Total) && *got.Total != *want.Total {
			t.Fatalf("%s %s: %d hits by %s, want %d by %s", c.method, c.path, len(got.Hits), got.Index, len(want.Hits), want.Index)
		}
		for i := range got.Hits {
			if got.Hits[i].Key != want.Hits[i].Key || got.Hits[i].Rank != want.Hits[i].Rank {
				t.Errorf("%s %s: hit %d is %s, want %s", c.method, c.path, i, got.Hits[i].Key, want.Hits[i].Key)
			}
		}
	}
	code, out := a.do("GET", "/search/kinds", "", nil)
	if code != 200 || !strings.Contains(string(out), `"morph.vol"`) || !strings.Contains(string(out), `"index":"spatial"`) {
		t.Errorf("kinds: %d %s", code, out)
	}
}

func ptr[T any](v T) *T { return &v }

// TestHTTPBadInput: every wrong request is a 4xx whose message names what
// is wrong, valid under openapi.json, and the service answers after it.
func TestHTTPBadInput(t *testing.T) {
	recs := fixtureRecords(10, 11)
	l := openFixture(t, Config{}, recs)
	a := newAPI(t, l, HTTPOptions{MaxUpload: 1000})
	notDICOM := bytes.Repeat([]byte("not dicom "), 200)
	for _, c := range []struct {
		method, path, ctype string
		body                []byte
		code                int
		msg                 string
	}{
		{"GET", "/search?filter=" + url.QueryEscape("class => 'bone'"), "", nil, 400, `unknown operator "=>"`},
		{"GET", "/search?filter=" + url.QueryEscape("morph.volume > 5"), "", nil, 400, `unknown field "morph.volume"`},
		{"GET", "/search?kind=hist-hu-v1&vector=1,2", "", nil, 400, "vector has 2 values, kind hist-hu-v1 has 16"},
		{"GET", "/search?kind=hist-hu-v1&like=1.2.826.1.1&k=0", "", nil, 400, "parameter k"},
		{"GET", "/search?kind=hist-hu-v1&like=1.2.826.1.1&k=1000000", "", nil, 400, "parameter k"},
		{"POST", "/search", "application/json", []byte(`{"kind":"hist-hu-v1","like":"1.2.826.1.1","k":0}`), 400, "k: 0"},
		{"POST", "/search", "application/json", []byte(`{"kind":"hist-hu-v1","like":"1.2.826.1.1","k":1000000}`), 400, "k: 1000000"},
		{"POST", "/search", "application/json", []byte(`{"kind":"hist-hu-v1","likes":"1.2.826.1.1"}`), 400, `unknown field "likes"`},
		{"GET", "/search?kind=hist-hu-v1&like=1.2.826.1.1&vector=1", "", nil, 400, "exclusive"},
		{"GET", "/search?kind=hist-hu-v1&like=9.9", "", nil, 404, "no hist-hu-v1 vector of item 9.9"},
		{"GET", "/search?colour=red", "", nil, 400, `parameter "colour" is unknown`},
		{"POST", "/search/upload", "application/dicom", notDICOM[:400], 415, "no DICM marker"},
		{"POST", "/search/upload", "application/dicom", notDICOM, 413, "over the limit of 1000 bytes"},
	} {
		code, out := a.do(c.method, c.path, c.ctype, c.body)
		var e struct{ Error string }
		json.Unmarshal(out, &e)
		if code != c.code || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s %s: %d %s, want %d naming %q", c.method, c.path, code, out, c.code, c.msg)
		}
	}
	a.answer("GET", "/search?kind=hist-hu-v1&like=1.2.826.1.1", nil)
}

// TestHTTPToken: with a token, /search wants it; /openapi.json does not.
func TestHTTPToken(t *testing.T) {
	l := openFixture(t, Config{}, fixtureRecords(3, 12))
	a := newAPI(t, l, HTTPOptions{Token: "s3cret"})
	a.answer("GET", "/search?filter=bin%3D0", nil)
	for _, auth := range []string{"", "Bearer wrong", "s3cret"} {
		a.token = strings.TrimPrefix(auth, "Bearer ")
		req, _ := http.NewRequest("GET", a.srv.URL+"/search/kinds", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d, want 401 with WWW-Authenticate", auth, resp.StatusCode)
		}
	}
	a.token = ""
	if code, _ := a.do("GET", "/openapi.json", "", nil); code != 200 {
		t.Errorf("openapi.json: %d without a token, want 200", code)
	}
}

// TestHTTPUpload: an uploaded CT slice is searched by its Hounsfield
// histogram: the record holding the histogram the extractor computes of
// that slice is the nearest, at distance 0.
func TestHTTPUpload(t *testing.T) {
	const muWater = 0.02
	g := fdk.Grid{Dim: [3]int{16, 16, 2}, Spacing: [3]float64{1, 1, 1}}
	vol := fdk.NewVolume(g)
	for i := range vol.Data {
		hu := map[bool]float64{true: 200, false: 0}[i%16 < 5]
		vol.Data[i] = float32(muWater * (1 + hu/1000))
	}
	st := dicomio.Study{StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID(), PatientName: "DOE^JANE", PatientID: "PID-42"}
	series, err := dicomio.WriteSeries(t.TempDir(), st, dicomio.Bin{MuWater: muWater}, vol, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := features.Histograms(vol, muWater, features.IDs{StudyUID: st.StudyInstanceUID, SeriesUID: series.SeriesInstanceUID})
	if err != nil {
		t.Fatal(err)
	}
	recs := fixtureRecords(5, 13)
	for i := range recs {
		if recs[i].Kind == "hist-hu" {
			recs[i].Values = append(recs[i].Values, make(records.Vector, 64-histDim)...)
		}
	}
	slice1 := records.Record{StudyUID: st.StudyInstanceUID, SeriesUID: series.SeriesInstanceUID, Slice: 1, Settings: "0123456789abcdef"}
	recs = append(recs, withKind(slice1, "hist-hu", hs[2].Values, nil))
	l := openFixture(t, Config{}, recs)
	a := newAPI(t, l, HTTPOptions{})
	data, err := os.ReadFile(series.Instances[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	code, out := a.do("POST", "/search/upload?k=3", "application/dicom", data)
	var ans Answer
	if code != 200 || json.Unmarshal(out, &ans) != nil || len(ans.Hits) != 3 {
		t.Fatalf("upload: %d %s", code, out)
	}
	if h := ans.Hits[0]; h.Key != series.SeriesInstanceUID+"/s1" || math.Abs(*h.Distance) > 1e-6 {
		t.Errorf("nearest to the upload: %s at %g, want %s/s1 at 0", h.Key, *h.Distance, series.SeriesInstanceUID)
	}
}

// TestNoPatientLeaks: a record's patient pseudonym appears in no answer,
// error, log line or metric.
func TestNoPatientLeaks(t *testing.T) {
	recs := fixtureRecords(10, 14)
	pseudo := records.Pseudonymise([]byte("deployment key"), "PID-42")
	for i := range recs {
		recs[i].Patient = pseudo
	}
	var logs bytes.Buffer
	cfg := Config{Dir: t.TempDir()}
	l := openFixture(t, cfg, recs)
	l.log = slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	if err := l.Register(reg); err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, l, HTTPOptions{Log: l.log})
	var seen bytes.Buffer
	for _, path := range []string{"/search?filter=bin%3D0&limit=1000", "/search?kind=radiomics-v1&like=1.2.826.1.1/o1", "/search?filter=" + url.QueryEscape("patient = '"+pseudo+"'"), "/search/kinds"} {
		_, out := a.do("GET", path, "", nil)
		seen.Write(out)
	}
	bad := recs[0]
	bad.Values = bad.Values[:2]
	bad.SeriesUID = "5.5.5"
	l.Add(context.Background(), []records.Record{bad}, 99)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(&seen, resp.Body)
	resp.Body.Close()
	seen.Write(logs.Bytes())
	if !strings.Contains(seen.String(), "ctrecon_search_query_seconds_bucket") || !strings.Contains(seen.String(), `"hits":[{`) {
		t.Fatalf("the check saw no answers or metrics: %.500s", seen.String())
	}
	if strings.Contains(seen.String(), pseudo) || strings.Contains(seen.String(), "PID-42") {
		t.Errorf("the patient's pseudonym leaks: %.2000s", seen.String())
	}
}
