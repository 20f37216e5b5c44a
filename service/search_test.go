package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/search"
)

// TestSearchOfWorkerFeatures runs a job through the service, as serve
// does, and searches what its worker published: filters name the
// radiomics features (the records carry no names), metric histograms are
// searched by example under DM, and the page's thumbnails are the hits'
// slices rendered from the series the worker wrote.
func TestSearchOfWorkerFeatures(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	s := startService(t, b)
	dir := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views, spec.Thresholds = 24, []float64{20, 40}
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	job := recon.Job{ID: "search-1", Input: dir, Volume: recon.VolumeSpec{Dim: [3]int{48, 48, 6}}}
	if _, _, err := recon.Submit(t.Context(), b, job); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute) // a hang guard
	defer cancel()
	st, err := recon.Wait(ctx, b, job.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, byKind := readFeatures(t, filepath.Join(st.Output, recon.FeaturesName))
	api := search.Client{URL: "http://" + s.Addr()}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		_, a, err := api.Search(ctx, search.Query{Filter: "kind != ''"})
		if err == nil && *a.Total == len(recs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the search holds %v records after a minute (%v), want the job's %d", a, err, len(recs))
		}
	}

	t.Run("radiomics names", func(t *testing.T) {
		rad := byKind[extract.KindRadiomics]
		names, err := extract.RadiomicsNames(extract.DefaultScanSettings().Radiomics)
		if err != nil || len(rad) == 0 {
			t.Fatalf("%d radiomics records, names %v", len(rad), err)
		}
		i := slices.Index(names, "stat.mean")
		cut := rad[0].Values[i]
		want := 0
		for _, r := range rad {
			if r.Values[i] > cut-1 {
				want++
			}
		}
		filter := "kind = 'radiomics-v1' and stat.mean > " + formatFloat(float64(cut)-1)
		_, a, err := api.Search(ctx, search.Query{Filter: filter})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		if *a.Total != want {
			t.Errorf("%s: %d records, want %d", filter, *a.Total, want)
		}
	})

	t.Run("metric histograms by DM", func(t *testing.T) {
		mh := byKind[histogram.KindMetric]
		like := mh[0]
		_, a, err := api.Search(ctx, search.Query{Kind: histogram.KindMetric, Like: search.ItemOf(&like).String(), K: 5})
		if err != nil {
			t.Fatal(err)
		}
		dm := func(r *records.Record) float64 {
			var x, y histogram.Metric
			if json.Unmarshal(like.Data, &x) != nil || json.Unmarshal(r.Data, &y) != nil {
				t.Fatal("metric histogram records without their data")
			}
			return histogram.DM(&x, &y)
		}
		var want []float64
		for i := range mh[1:] {
			want = append(want, dm(&mh[1+i]))
		}
		slices.Sort(want)
		if len(a.Hits) != min(5, len(want)) {
			t.Fatalf("%d hits, want %d", len(a.Hits), min(5, len(want)))
		}
		for i, h := range a.Hits {
			if math.Abs(*h.Distance-want[i]) > 1e-5 {
				t.Errorf("hit %d (%s) at %g, want DM %g", i+1, h.Key, *h.Distance, want[i])
			}
		}
	})

	t.Run("thumbnails from DICOM", func(t *testing.T) {
		hu := byKind["hist-hu-v1"][0]
		key := search.ItemOf(&hu).String()
		body, err := get(ctx, api.URL+"/search/thumbnail?key="+url.QueryEscape(key))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		levels := map[uint32]bool{}
		for y := range img.Bounds().Dy() {
			for x := range img.Bounds().Dx() {
				r, g, bl, _ := img.At(x, y).RGBA()
				if r != g || g != bl {
					t.Fatalf("thumbnail of %s: pixel (%d, %d) is not grey: a layout sketch, not the slice", key, x, y)
				}
				levels[r] = true
			}
		}
		if len(levels) < 8 {
			t.Errorf("thumbnail of %s has %d grey levels, want a CT slice's", key, len(levels))
		}
	})
}

// readFeatures reads the records of a job's FeaturesName, and returns
// them by kind (with its version) too.
func readFeatures(t *testing.T, path string) ([]records.Record, map[string][]records.Record) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all []records.Record
	byKind := map[string][]records.Record{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		r, err := records.Unmarshal(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		all, byKind[r.KindVersion()] = append(all, r), append(byKind[r.KindVersion()], r)
	}
	return all, byKind
}

func formatFloat(x float64) string { b, _ := json.Marshal(x); return string(b) }
