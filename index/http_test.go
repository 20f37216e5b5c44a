package index

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/features"
)

type testHit struct {
	Rank      int     `json:"rank"`
	Key       string  `json:"key"`
	Distance  float64 `json:"distance"`
	StudyUID  *string `json:"study_uid"`
	SeriesUID *string `json:"series_uid"`
	Bin       *int    `json:"bin"`
	Slice     *int    `json:"slice"`
	Kind      *string `json:"kind"`
}

type testResponse struct {
	Query struct {
		Like   string    `json:"like"`
		Kind   string    `json:"kind"`
		Vector []float32 `json:"vector"`
	} `json:"query"`
	K     int       `json:"k"`
	Hits  []testHit `json:"hits"`
	Error string    `json:"error"`
	Raw   string    `json:"-"`
}

// testIndex holds series 1.2.1 (bin 0, volume and slices 0 to 3) and 1.2.2
// (bin 1, volume and slices 0 to 1) of study 1.2, with vectors chosen so that
// distances are easy to work out: the slices of 1.2.1 step along the first
// axis, the volumes lie far out. 1.2.9 is a volume of another kind.
func testIndex(t *testing.T) *Exact {
	t.Helper()
	x := NewExact(0)
	add := func(series string, bin, slice int, kind string, v ...float32) {
		t.Helper()
		f := features.Vector{StudyUID: "1.2", SeriesUID: series, Bin: bin, Slice: slice, Kind: kind, Values: v}
		if err := AddFeature(x, &f); err != nil {
			t.Fatal(err)
		}
	}
	h := features.KindHistHU
	add("1.2.1", 0, -1, h, 0, 0, 0, 10)
	for z := range 4 {
		add("1.2.1", 0, z, h, float32(z), 0, 0, 0)
	}
	add("1.2.2", 1, -1, h, 0, 0, 10, 10)
	add("1.2.2", 1, 0, h, 0, 3, 0, 0)
	add("1.2.2", 1, 1, h, 0, 0, 4, 0)
	add("1.2.9", 1, -1, "other-v1", 0, 0, 0, 0.5)
	return x
}

func get(t *testing.T, h http.Handler, target string) (int, testResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	var resp testResponse
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", target, ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%s: %v in %s", target, err, rec.Body)
	}
	resp.Raw = rec.Body.String()
	return rec.Code, resp
}

func keys(hits []testHit) string {
	var ks []string
	for _, h := range hits {
		ks = append(ks, h.Key)
	}
	return strings.Join(ks, " ")
}

func TestHandlerLike(t *testing.T) {
	h := NewHandler(testIndex(t), nil)
	code, resp := get(t, h, "/search?like=1.2.1:1&k=3")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, resp.Raw)
	}
	// From (1,0,0,0): slices 0 and 2 at 1 (ordered by key), then the
	// volume 1.2.9 at sqrt(1.25); slice 1 itself is left out.
	if got := keys(resp.Hits); got != "1.2.1:0 1.2.1:2 1.2.9" {
		t.Errorf("hits %s", got)
	}
	if resp.K != 3 || resp.Query.Like != "1.2.1:1" || len(resp.Query.Vector) != 4 || resp.Query.Vector[0] != 1 {
		t.Errorf("query %+v, k %d", resp.Query, resp.K)
	}
	for i, want := range []float64{1, 1, math.Sqrt(1.25)} {
		if math.Abs(resp.Hits[i].Distance-want) > 1e-7 || resp.Hits[i].Rank != i+1 {
			t.Errorf("hit %d: rank %d, distance %g; want rank %d, distance %g", i, resp.Hits[i].Rank, resp.Hits[i].Distance, i+1, want)
		}
	}
	first, vol := resp.Hits[0], resp.Hits[2]
	if first.StudyUID == nil || *first.StudyUID != "1.2" || *first.SeriesUID != "1.2.1" || first.Bin == nil || *first.Bin != 0 ||
		first.Slice == nil || *first.Slice != 0 || *first.Kind != features.KindHistHU || *vol.Kind != "other-v1" {
		t.Errorf("hit 0 is %s", resp.Raw)
	}
	if vol.Slice == nil || *vol.Slice != -1 {
		t.Errorf("the volume hit has no slice -1: %s", resp.Raw)
	}

	// A volume key, the default k, and a leading zero in the slice.
	if code, resp := get(t, h, "/search?like=1.2.2"); code != http.StatusOK || resp.K != DefaultK || len(resp.Hits) != 8 || slices.Contains(strings.Fields(keys(resp.Hits)), "1.2.2") {
		t.Errorf("like=1.2.2: %d %s", code, resp.Raw)
	}
	if code, resp := get(t, h, "/search?like=1.2.1:03&k=1"); code != http.StatusOK || resp.Query.Like != "1.2.1:3" || keys(resp.Hits) != "1.2.1:2" {
		t.Errorf("like=1.2.1:03: %d %s", code, resp.Raw)
	}
}

func TestHandlerVectorAndKind(t *testing.T) {
	h := NewHandler(testIndex(t), nil)
	code, resp := get(t, h, "/search?vector="+url.QueryEscape("0, 3 ,0,0")+"&k=2")
	if code != http.StatusOK || keys(resp.Hits) != "1.2.2:0 1.2.1:0" || resp.Hits[0].Distance != 0 || resp.Hits[1].Distance != 3 {
		t.Errorf("vector: %d %s", code, resp.Raw)
	}
	code, resp = get(t, h, "/search?vector=0,0,0,0.5&kind=other-v1")
	if code != http.StatusOK || keys(resp.Hits) != "1.2.9" || resp.Query.Kind != "other-v1" {
		t.Errorf("kind other-v1: %d %s", code, resp.Raw)
	}
	code, resp = get(t, h, "/search?vector=0,0,0,0.5&k=1000&kind="+features.KindHistHU)
	if code != http.StatusOK || len(resp.Hits) != 8 || strings.Contains(keys(resp.Hits), "1.2.9") {
		t.Errorf("kind hist: %d %s", code, resp.Raw)
	}
	code, resp = get(t, h, "/search?like=1.2.1&kind=none-v0")
	if code != http.StatusOK || !strings.Contains(resp.Raw, `"hits":[]`) {
		t.Errorf("no hits must be an empty array: %d %s", code, resp.Raw)
	}
}

func TestHandlerLookup(t *testing.T) {
	stored := map[string][]float32{"7.7:2": {0, 0, 4, 0}}
	h := NewHandler(testIndex(t), func(key string) ([]float32, bool) { v, ok := stored[key]; return v, ok })
	if code, resp := get(t, h, "/search?like=7.7:2&k=1"); code != http.StatusOK || keys(resp.Hits) != "1.2.2:1" {
		t.Errorf("%d %s", code, resp.Raw)
	}
	if code, resp := get(t, h, "/search?like=1.2.1"); code != http.StatusNotFound {
		t.Errorf("a key the lookup lacks: %d %s", code, resp.Raw)
	}
}

func TestHandlerErrors(t *testing.T) {
	h := NewHandler(testIndex(t), nil)
	for _, c := range []struct {
		query string
		code  int
		says  string
	}{
		{"", 400, "parameter like (a key SERIES_UID[:SLICE]) or vector (comma-separated values) is required"},
		{"k=5", 400, "parameter like"},
		{"like=1.2.1&vector=1,2,3,4", 400, "like and vector are both given"},
		{"like=1.2.1&k=0", 400, `parameter k: "0" is not an integer from 1 to 1000`},
		{"like=1.2.1&k=-3", 400, "parameter k"},
		{"like=1.2.1&k=ten", 400, `parameter k: "ten"`},
		{"like=1.2.1&k=2.5", 400, "parameter k"},
		{"like=1.2.1&k=1001", 400, "parameter k"},
		{"like=1.2.1&k=", 400, "parameter k"},
		{"like=1.2.1&k=1&k=2", 400, "parameter k is given 2 times"},
		{"like=", 400, "parameter like: invalid feature key"},
		{"like=1.2.1:x", 400, "parameter like"},
		{"like=1.2.1:-1", 400, "parameter like"},
		{"like=9.9.9", 404, `parameter like: no vector is stored under key "9.9.9"`},
		{"like=1.2.1:4", 404, `"1.2.1:4"`},
		{"vector=", 400, "parameter vector is empty"},
		{"vector=1,2,3", 400, "parameter vector has 3 values, the index holds 4-dimensional vectors"},
		{"vector=1,2,3,4,5", 400, "has 5 values"},
		{"vector=1,x,3,4", 400, `parameter vector: value 1, "x", is not a finite number`},
		{"vector=1,,3,4", 400, "value 1"},
		{"vector=1,2,NaN,4", 400, "value 2"},
		{"vector=1,2,3,Inf", 400, "value 3"},
		{"vector=1,2,3,1e39", 400, "value 3"},
		{"like=1.2.1&kind=", 400, "parameter kind is empty"},
		{"like=1.2.1&K=3", 400, `parameter "K" is unknown`},
		{"like=%zz", 400, "query string"},
	} {
		code, resp := get(t, h, "/search?"+c.query)
		if code != c.code || !strings.Contains(resp.Error, c.says) {
			t.Errorf("?%s: %d %q, want %d saying %q", c.query, code, resp.Error, c.code, c.says)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/search?like=1.2.1", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestHandlerServer runs the handler behind a real server, as the service
// will, with concurrent adds.
func TestHandlerServer(t *testing.T) {
	x := testIndex(t)
	srv := httptest.NewServer(NewHandler(x, nil))
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for z := range 200 {
			f := features.Vector{StudyUID: "3", SeriesUID: "3.1", Slice: z, Kind: features.KindHistHU, Values: []float32{9, 9, 9, float32(z)}}
			if err := AddFeature(x, &f); err != nil {
				t.Error(err)
			}
		}
	}()
	for range 20 {
		res, err := http.Get(srv.URL + "/search?like=1.2.1:1&k=2")
		if err != nil {
			t.Fatal(err)
		}
		var resp testResponse
		err = json.NewDecoder(res.Body).Decode(&resp)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || keys(resp.Hits) != "1.2.1:0 1.2.1:2" {
			t.Fatalf("%d %v %+v", res.StatusCode, err, resp)
		}
	}
	<-done
}

func TestAddFeatureRejects(t *testing.T) {
	x := NewExact(0)
	bad := features.Vector{StudyUID: "1", SeriesUID: "1.2:3", Kind: features.KindHistHU, Values: []float32{1}}
	if err := AddFeature(x, &bad); err == nil || x.Len() != 0 {
		t.Errorf("series UID with a colon: %v, Len %d", err, x.Len())
	}
}
