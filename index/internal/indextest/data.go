// Package indextest checks an index.Index against index.Exact, the
// reference: the interface's behaviour (Conformance), exactness where the
// method is exact (SameAsExact), recall where it is not (Recall), and the
// recall, speed, build time and memory over a sweep of parameters (Sweep),
// on random and clustered vectors and on scikit-learn's handwritten digits
// (Digits).
package indextest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/internal/peertest"
)

// Set is a data set: base vectors to index under keys and queries.
type Set struct {
	Name    string
	Keys    []string
	Base    [][]float32
	Queries [][]float32
}

// Dim returns the length of the vectors.
func (s *Set) Dim() int { return len(s.Base[0]) }

// split holds out a seeded tenth of vs (at least one) as queries.
func split(name string, vs [][]float32, seed uint64) *Set {
	rng := rand.New(rand.NewPCG(seed, 0x5e7))
	rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	nq := max(1, len(vs)/10)
	s := &Set{Name: name, Queries: vs[:nq], Base: vs[nq:]}
	for i := range s.Base {
		s.Keys = append(s.Keys, fmt.Sprintf("v%06d", i))
	}
	return s
}

// Random returns n vectors of dim standard normal values, a tenth held out
// as queries. With coarse values each is a multiple of 1/4 in [-1, 1], so
// that many distances tie and the order by key is exercised.
func Random(n, dim int, coarse bool, seed uint64) *Set {
	rng := rand.New(rand.NewPCG(seed, uint64(dim)))
	vs := make([][]float32, n)
	for i := range vs {
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			if coarse {
				vs[i][j] = float32(rng.IntN(9)-4) / 4
			} else {
				vs[i][j] = float32(rng.NormFloat64())
			}
		}
	}
	return split(fmt.Sprintf("random-%dx%d", n, dim), vs, seed)
}

// Clustered returns n vectors of dim values around clusters centres drawn
// uniformly in the unit cube, a tenth held out as queries. A cluster
// spreads differently along each axis, as real features concentrate their
// variance in a few directions: its j-th axis (in an order drawn per
// cluster) has standard deviation spread/√(1+j).
func Clustered(n, dim, clusters int, spread float64, seed uint64) *Set {
	rng := rand.New(rand.NewPCG(seed, uint64(dim*clusters)))
	centres := make([][]float64, clusters)
	sigma := make([][]float64, clusters)
	for c := range centres {
		centres[c], sigma[c] = make([]float64, dim), make([]float64, dim)
		for j, axis := range rng.Perm(dim) {
			centres[c][j] = rng.Float64()
			sigma[c][axis] = spread / math.Sqrt(1+float64(j))
		}
	}
	vs := make([][]float32, n)
	for i := range vs {
		c := rng.IntN(clusters)
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			vs[i][j] = float32(centres[c][j] + sigma[c][j]*rng.NormFloat64())
		}
	}
	return split(fmt.Sprintf("clustered-%dx%d", n, dim), vs, seed)
}

// DigitsPath is where the digits are read from: CTRECON_DIGITS, or
// digits.csv.gz in the user's cache folder's ctrecon folder, where `make
// deps` puts it (taken out of Debian's python3-sklearn with `apt-get
// download` and `dpkg -x`).
func DigitsPath() string {
	if p := os.Getenv("CTRECON_DIGITS"); p != "" {
		return p
	}
	dir, _ := os.UserCacheDir()
	return filepath.Join(dir, "ctrecon", "digits.csv.gz")
}

// Digits returns scikit-learn's handwritten digits (1,797 images of 8x8
// pixels of 0 to 16, the last column of each row the digit), a seeded
// tenth held out as queries. The test skips when the file is missing, or
// fails under CTRECON_REQUIRE_PEERS=1.
func Digits(t testing.TB) *Set {
	t.Helper()
	path := DigitsPath()
	f, err := os.Open(path)
	if err != nil {
		peertest.Missing(t, fmt.Sprintf("digits: %v (from python3-sklearn's sklearn/datasets/data/digits.csv.gz)", err))
		return nil
	}
	defer f.Close()
	vs, err := readDigits(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return split("digits", vs, 1)
}

// readDigits reads gzipped CSV rows of 65 integers, the last a label it
// drops.
func readDigits(f *os.File) ([][]float32, error) {
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var vs [][]float32
	sc := bufio.NewScanner(z)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Split(sc.Text(), ",")
		if len(fields) != 65 {
			return nil, fmt.Errorf("line %d has %d values, want 65", line, len(fields))
		}
		v := make([]float32, 64)
		for j := range v {
			x, err := strconv.ParseFloat(fields[j], 32)
			if err != nil {
				return nil, fmt.Errorf("line %d, value %d: %w", line, j+1, err)
			}
			v[j] = float32(x)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vs) != 1797 {
		return nil, fmt.Errorf("%d rows, want 1797", len(vs))
	}
	return vs, nil
}

// ForMetric returns a copy of s whose vectors m accepts: their absolute
// values for Jaccard, and for cosine a vector of zeros made (1, 0, ...).
func ForMetric(s *Set, m index.Metric) *Set {
	fix := func(vs [][]float32) [][]float32 {
		out := make([][]float32, len(vs))
		for i, v := range vs {
			out[i] = slices.Clone(v)
			switch m.Name() {
			case index.Jaccard.Name():
				for j := range out[i] {
					out[i][j] = float32(math.Abs(float64(out[i][j])))
				}
			case index.Cosine.Name():
				if !slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
					out[i][0] = 1
				}
			}
		}
		return out
	}
	return &Set{Name: s.Name + "-" + m.Name(), Keys: s.Keys, Base: fix(s.Base), Queries: fix(s.Queries)}
}

// Custom is a metric given as a function, as index.NewMetric takes one:
// the Manhattan distance summed in float64. Load must be given it.
var Custom = index.NewMetric("indextest-l1", func(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s
})

// Metrics are the metrics every index is tested under: the built-in ones
// and Custom.
var Metrics = []index.Metric{index.Euclidean, index.Manhattan, index.Cosine, index.Jaccard, Custom}
