package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bench/ann"
	"github.com/ctrecon/ctrecon/bench/featvec"
	"github.com/ctrecon/ctrecon/bench/scanset"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/index"
)

// scanSet returns the labelled simulated scans (scanset.DefaultSpec),
// generated on the first run (some 10 minutes on two cores) and read from
// the user's cache folder after.
func scanSet(b *testing.B) *scanset.Set {
	dir, err := os.UserCacheDir()
	if err != nil {
		b.Fatal(err)
	}
	spec := scanset.DefaultSpec()
	start := time.Now()
	s, err := scanset.Load(filepath.Join(dir, "ctrecon"), spec, func(i int) {
		b.Logf("scan %d of %d simulated and described (%.0f s)", i+1, spec.Scans, time.Since(start).Seconds())
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkIndexScans measures every index of ctrecon on each feature
// kind of the labelled simulated scans (scanset), a seeded 10 % held out
// as queries, as BenchmarkIndexDigits does the digits: the Euclidean kinds
// beside hnswlib and faiss (M 16, efConstruction 200, the ef sweep), the
// metric histograms under DM with the indexes that take any metric.
func BenchmarkIndexScans(b *testing.B) {
	s := scanSet(b)
	for _, kind := range scanset.Kinds {
		b.Run(kind, func(b *testing.B) {
			set, _, err := s.Vectors(kind)
			if err != nil {
				b.Fatal(err)
			}
			base, queries, err := ann.HoldOut(set, 0.1, 1)
			if err != nil {
				b.Fatal(err)
			}
			name := "scans-" + kind
			if m := scanset.MetricOf(kind); m.Name() != index.Euclidean.Name() {
				compareMetric(b, name, base, queries, m)
				return
			}
			compare(b, name, base, queries, 16, 200)
		})
	}
}

// compareMetric measures the indexes that search any metric (the exact
// scan, HNSW over the ef sweep, the Slim-tree) under m, which the peers
// do not have, and writes the results as compare does.
func compareMetric(b *testing.B, name string, base, queries *ann.Set, m index.Metric) {
	ef := make([]string, len(efSweep))
	for i, e := range efSweep {
		ef[i] = strconv.Itoa(e)
	}
	configs := []ann.Config{{Index: "exact"}, {Index: "slim"},
		{Index: "hnsw", Sweep: ann.Sweep(map[string][]string{"M": {"16"}, "efConstruction": {"200"}, "ef": ef})}}
	for b.Loop() {
		truth, err := ann.GroundTruth(base, queries, 10, m)
		if err != nil {
			b.Fatal(err)
		}
		var results []ann.Result
		for _, cfg := range configs {
			cfg.Metric, cfg.K, cfg.MinQueryTime = m, 10, time.Second/3
			r, err := ann.Evaluate(base, queries, truth, cfg)
			if err != nil {
				b.Fatal(err)
			}
			results = append(results, r...)
		}
		write(b, name, base, results)
	}
}

// BenchmarkRetrievalQuality measures precision and recall by class label
// (ann.PrecisionRecall: every vector queries the rest, answers of 1 % to
// 100 % of the database) of the feature kinds the metric-histogram papers
// compare, on the digits (label: the digit) and on the simulated scans
// (label: the insert's material; a per-bin kind's query searches its own
// energy bin's records), and writes the table, JSON and precision-recall
// plot of each to outDir as retrieval-NAME.
func BenchmarkRetrievalQuality(b *testing.B) {
	b.Run("digits", func(b *testing.B) {
		set, err := ann.ReadFile(digitsPath())
		if err != nil {
			b.Skipf("%v (make deps extracts it from python3-sklearn)", err)
		}
		if err := set.LabelsFromLastColumn(); err != nil {
			b.Fatal(err)
		}
		kinds, err := digitsKinds(set)
		if err != nil {
			b.Fatal(err)
		}
		retrieval(b, "digits", kinds)
	})
	b.Run("scans", func(b *testing.B) {
		s := scanSet(b)
		var kinds []retrievalKind
		for _, kind := range scanset.Kinds {
			set, bins, err := s.Vectors(kind)
			if err != nil {
				b.Fatal(err)
			}
			m := scanset.MetricOf(kind)
			kinds = append(kinds, retrievalKind{fmt.Sprintf("%s (%s)", kind, m), set, ann.Retrieval{Metric: m, Groups: bins}})
		}
		retrieval(b, "scans", kinds)
	})
}

// retrievalKind is a feature kind's vectors and how they are searched.
type retrievalKind struct {
	name string
	set  *ann.Set
	ann.Retrieval
}

// retrieval measures each kind's precision-recall curve and writes them.
func retrieval(b *testing.B, name string, kinds []retrievalKind) {
	for b.Loop() {
		var curves []ann.PRCurve
		for _, k := range kinds {
			pr, err := ann.PrecisionRecall(k.set, k.Retrieval)
			if err != nil {
				b.Fatal(err)
			}
			curves = append(curves, ann.PRCurve{Name: fmt.Sprintf("%s, %d vectors of %d", k.name, k.set.Len(), k.set.Dim), Points: pr})
		}
		dir := outDir(b)
		f, err := os.Create(filepath.Join(dir, "retrieval-"+name+".md"))
		if err != nil {
			b.Fatal(err)
		}
		if err := ann.WritePRTable(f, curves); err != nil {
			b.Fatal(err)
		}
		f.Close()
		ann.WritePRTable(os.Stdout, curves)
		js, _ := json.MarshalIndent(curves, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "retrieval-"+name+".json"), js, 0o644); err != nil {
			b.Fatal(err)
		}
		title := fmt.Sprintf("%s: precision against recall by class label, answers of 1 to 100 %%", name)
		if err := ann.PlotPR(filepath.Join(dir, "retrieval-"+name+".png"), title, curves); err != nil {
			b.Fatal(err)
		}
	}
}

// The digits as images: 8 × 8 pixels of grey levels 0 to 16.
const (
	digitSide   = 8
	digitLevels = 17
)

// digitsKinds returns the three views of the digits that stand in for the
// scans' kinds: the 64 pixels under the Euclidean distance (as HU
// histograms are compared: one value per position, L2), each image's
// grey-level histogram (17 levels) reduced to a metric histogram under DM
// (histogram.DefaultSettings' tolerance and bucket bound), and each
// image's IBSI radiomics (whole image as the ROI, one grey level per
// level, 2D texture matrices) standardised, under the Euclidean distance.
func digitsKinds(set *ann.Set) ([]retrievalKind, error) {
	mh := &ann.Set{Name: "digits metric histograms", Labels: set.Labels}
	var rad [][]float32
	settings := histogram.DefaultSettings()
	settings.Binning = histogram.Binning{Bins: digitLevels, MinHU: -0.5, MaxHU: digitLevels - 0.5}
	for i := range set.Len() {
		row := set.Row(i)
		h := histogram.Histogram{Counts: make([]int64, digitLevels), N: int64(len(row))}
		for _, v := range row {
			h.Counts[min(max(int(v), 0), digitLevels-1)]++
		}
		m, err := histogram.Reduce(&h, settings)
		if err != nil {
			return nil, fmt.Errorf("digit %d: %w", i+1, err)
		}
		v, err := m.Vector(digitLevels + 2) // Curve's points: one per level and the two ends
		if err != nil {
			return nil, fmt.Errorf("digit %d: %w", i+1, err)
		}
		mh.Dim, mh.Data = len(v), append(mh.Data, v...)
		f, err := digitRadiomics(row)
		if err != nil {
			return nil, fmt.Errorf("digit %d: %w", i+1, err)
		}
		rad = append(rad, f)
	}
	std, _ := featvec.Standardise(rad)
	rs := &ann.Set{Name: "digits radiomics", Dim: len(std[0]), Labels: set.Labels}
	for _, r := range std {
		rs.Data = append(rs.Data, r...)
	}
	return []retrievalKind{
		{"pixels (L2)", set, ann.Retrieval{Metric: index.Euclidean}},
		{"grey-level metric histogram (DM)", mh, ann.Retrieval{Metric: histogram.DMIndexMetric}},
		{"radiomics, standardised (L2)", rs, ann.Retrieval{Metric: index.Euclidean}},
	}, nil
}

// digitRadiomics returns the radiomics of one digit's image.
func digitRadiomics(pixels []float32) ([]float32, error) {
	g := radiomics.Grid{Size: [3]int{digitSide, digitSide, 1}, Spacing: [3]float64{1, 1, 1}}
	img := &radiomics.Image{Grid: g, Data: make([]float64, len(pixels))}
	mask := &radiomics.Mask{Grid: g, Data: make([]bool, len(pixels))}
	for i, v := range pixels {
		img.Data[i], mask.Data[i] = float64(v), true
	}
	zero := 0.0
	grey := radiomics.Discretisation{Method: radiomics.FixedBinSize, BinWidth: 1, Min: &zero}
	feats, err := radiomics.Compute(img, mask, radiomics.Settings{Discretisation: grey, IVH: grey,
		Texture:  radiomics.Texture{Aggregations: []string{radiomics.Agg2D}, Distance: 1, ZoneDistance: 1},
		Families: []string{"stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"}})
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(feats))
	for i, f := range feats {
		out[i] = float32(f.Value)
	}
	return out, nil
}
