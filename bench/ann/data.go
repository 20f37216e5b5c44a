package ann

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/index"
)

// Clustered returns n vectors of dim values drawn around clusters centres
// (uniform in the unit cube), labelled by cluster. Within a cluster the
// spread differs by axis, as in real features whose variance concentrates
// in a few directions: axis j of a cluster (in an order drawn per cluster)
// has standard deviation 0.3/√(1+j), so that a cluster is about 0.65 across
// at any dimension while centres lie √(dim/6) apart. The same seed gives
// the same vectors.
func Clustered(n, dim, clusters int, seed uint64) *Set {
	rng := rand.New(rand.NewPCG(seed, 0x636c75))
	centres := make([]float32, clusters*dim)
	for i := range centres {
		centres[i] = rng.Float32()
	}
	sigma := make([]float32, clusters*dim)
	for c := range clusters {
		for j, axis := range rng.Perm(dim) {
			sigma[c*dim+axis] = float32(0.3 / math.Sqrt(1+float64(j)))
		}
	}
	s := &Set{Name: fmt.Sprintf("clustered-%dx%d", n, dim), Dim: dim, Data: make([]float32, n*dim), Labels: make([]string, n)}
	for i := range n {
		c := rng.IntN(clusters)
		s.Labels[i] = strconv.Itoa(c)
		for j := range dim {
			s.Data[i*dim+j] = centres[c*dim+j] + sigma[c*dim+j]*float32(rng.NormFloat64())
		}
	}
	return s
}

// HoldOut splits s into a base and queries: a fraction of the vectors (at
// least one, and at least one left), chosen by a permutation from seed;
// labels follow their vectors.
func HoldOut(s *Set, fraction float64, seed uint64) (base, queries *Set, err error) {
	held := func(n int) int { return max(int(math.Round(fraction*float64(n))), 1) }
	n, nq := s.Len(), held(s.Len())
	if !(fraction < 1) {
		return nil, nil, fmt.Errorf("%s: holding %v of the vectors out as queries: want a fraction below 1", s.Name, fraction)
	}
	if n < 2 || nq >= n {
		need := 2
		for held(need) >= need {
			need++
		}
		return nil, nil, fmt.Errorf("%s: %s: too few to hold %.0f%% out as queries and index the rest (want at least %d)", s.Name, Count(n, "vector"), 100*fraction, need)
	}
	perm := rand.New(rand.NewPCG(seed, 0x686f6c64)).Perm(n)
	return s.subset(perm[nq:], "base"), s.subset(perm[:nq], "queries"), nil
}

// subset returns the rows of s at rows, in that order.
func (s *Set) subset(rows []int, part string) *Set {
	out := &Set{Name: s.Name + " " + part, Dim: s.Dim, Kind: s.Kind, Data: make([]float32, 0, len(rows)*s.Dim), Rows: make([]int, len(rows))}
	for i, r := range rows {
		out.Data = append(out.Data, s.Row(r)...)
		out.Rows[i] = s.FileRow(r)
		if s.Labels != nil {
			out.Labels = append(out.Labels, s.Labels[r])
		}
	}
	return out
}

// Count says n things, thing in the singular: "1 vector", "3 vectors",
// "2 queries".
func Count(n int, thing string) string {
	switch {
	case n == 1:
		return "1 " + thing
	case strings.HasSuffix(thing, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(thing, "y"))
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// Split returns the first n vectors of s and the rest, sharing s's
// storage, named s's name and "base" or "queries".
func (s *Set) Split(n int) (base, queries *Set) {
	base = &Set{Name: s.Name + " base", Dim: s.Dim, Data: s.Data[: n*s.Dim : n*s.Dim]}
	queries = &Set{Name: s.Name + " queries", Dim: s.Dim, Data: s.Data[n*s.Dim:]}
	if s.Labels != nil {
		base.Labels, queries.Labels = s.Labels[:n:n], s.Labels[n:]
	}
	return base, queries
}

// Inputs names the files a benchmark reads its vectors from.
type Inputs struct {
	// Vectors holds the vectors to index (ReadFile), Queries the queries;
	// without Queries a seeded fraction HoldOut of Vectors is held out as
	// queries.
	Vectors, Queries string
	// Labels holds one label per vector of Vectors (Set.ReadLabels), for
	// label precision, and QueryLabels one per vector of Queries: with
	// Queries both or neither; held-out queries keep their Labels.
	// LabelColumn, when not 0, instead names the column of Vectors and of
	// Queries that holds each vector's label (Set.LabelsFromColumn: from
	// 1, or -1 the last).
	Labels, QueryLabels string
	LabelColumn         int
	// Metric names the metric the vectors are compared by (MetricFor).
	Metric  string
	HoldOut float64
	Seed    uint64
}

// check returns an error when the labels the inputs name do not go
// together: two sources, or labels for only one of Vectors and Queries.
func (in Inputs) check() error {
	switch {
	case in.LabelColumn != 0 && (in.Labels != "" || in.QueryLabels != ""):
		return fmt.Errorf("labels files and label column %d: the labels come from one or the other", in.LabelColumn)
	case in.QueryLabels != "" && in.Queries == "":
		return fmt.Errorf("query labels %s: there is no file of queries (held-out queries keep the labels of the vectors)", in.QueryLabels)
	case in.Queries != "" && in.Labels != "" && in.QueryLabels == "":
		return fmt.Errorf("labels %s are for the vectors of %s: the queries of %s need theirs too (query labels)", in.Labels, in.Vectors, in.Queries)
	case in.QueryLabels != "" && in.Labels == "":
		return fmt.Errorf("query labels %s are for the queries of %s: the vectors of %s need theirs too (labels)", in.QueryLabels, in.Queries, in.Vectors)
	}
	return nil
}

// Read reads the inputs and returns the base vectors, the queries and
// the metric they are compared by. Every vector is checked against the
// metric before queries are held out, so that an error names the first
// vector of the file the metric refuses.
func (in Inputs) Read() (base, queries *Set, m index.Metric, err error) {
	fail := func(err error) (*Set, *Set, index.Metric, error) { return nil, nil, index.Metric{}, err }
	if err := in.check(); err != nil {
		return fail(err)
	}
	all, err := in.read(in.Vectors, in.Labels)
	if err != nil {
		return fail(err)
	}
	if m, err = all.MetricFor(in.Metric); err != nil {
		return fail(err)
	}
	if in.Queries == "" {
		if err := all.labelColumn(in.LabelColumn); err != nil {
			return fail(err)
		}
		if err := all.checkValues(m); err != nil {
			return fail(err)
		}
		base, queries, err = HoldOut(all, in.HoldOut, in.Seed)
		return base, queries, m, err
	}
	if queries, err = in.read(in.Queries, in.QueryLabels); err != nil {
		return fail(err)
	}
	if err := in.sameColumns(all, queries); err != nil {
		return fail(err)
	}
	for _, s := range []*Set{all, queries} {
		if err := s.labelColumn(in.LabelColumn); err != nil {
			return fail(err)
		}
	}
	if (queries.Kind == histogram.KindMetric) != (all.Kind == histogram.KindMetric) {
		return fail(fmt.Errorf("%s holds %s, %s %s: metric histograms are compared only with metric histograms", in.Queries, queries.describe(), in.Vectors, all.describe()))
	}
	if all.Kind == histogram.KindMetric { // each padded to its own file's longest
		d := max(all.Dim, queries.Dim)
		all.padTo(d)
		queries.padTo(d)
	}
	for _, s := range []*Set{all, queries} {
		if err := s.checkValues(m); err != nil {
			return fail(err)
		}
	}
	return all, queries, m, nil
}

// read reads the vectors of path (ReadFile) and the labels of labels, if
// named; with LabelColumn it checks that their values have columns (the
// column is taken out by labelColumn once the queries' columns are known
// to match).
func (in Inputs) read(path, labels string) (*Set, error) {
	s, err := ReadFile(path)
	switch {
	case err != nil:
		return nil, err
	case in.LabelColumn != 0 && s.Kind != "":
		return nil, fmt.Errorf("%s holds %s: their values have no column of labels", path, s.describe())
	case labels != "":
		return s, s.ReadLabels(labels)
	}
	return s, nil
}

// labelColumn takes the labels out of column col of s
// (LabelsFromColumn), if col is not 0.
func (s *Set) labelColumn(col int) error {
	if col == 0 {
		return nil
	}
	return s.LabelsFromColumn(col)
}

// sameColumns returns an error when, with a label column, the vectors and
// the queries have different numbers of columns, before the column is
// taken out: saying so in columns, and which file seems to lack the label
// column, where the numbers of values would mislead.
func (in Inputs) sameColumns(all, queries *Set) error {
	if in.LabelColumn == 0 || all.Dim == queries.Dim {
		return nil
	}
	which := "the last column"
	if in.LabelColumn > 0 {
		which = fmt.Sprintf("column %d", in.LabelColumn)
	} else if in.LabelColumn < -1 {
		which = fmt.Sprintf("column %d from the end", -in.LabelColumn)
	}
	err := fmt.Sprintf("%s has %d columns where %s has %d (%s and the label, in %s): dimension mismatch",
		queries.Name, queries.Dim, all.Name, all.Dim, Count(all.Dim-1, "value"), which)
	switch queries.Dim {
	case all.Dim - 1:
		err += "; the label column seems to be missing from " + queries.Name
	case all.Dim + 1:
		err += "; the label column seems to be missing from " + all.Name
	}
	return errors.New(err)
}

// checkValues returns an error naming the first vector of s, in the order
// of its file, that m refuses (a zero vector under cosine).
func (s *Set) checkValues(m index.Metric) error {
	for i := range s.Len() {
		if err := index.CheckValues(s.Row(i), m); err != nil {
			return fmt.Errorf("%s, row %d: %w", s.Name, s.FileRow(i), err)
		}
	}
	return nil
}

// MetricNames returns the metrics MetricFor knows: the built-in ones and
// DM.
func MetricNames() []string { return append(index.MetricNames(), histogram.DMIndexMetric.Name()) }

// MetricFor returns the metric called name (index.MetricNamed's, or "dm",
// histogram.DMIndexMetric; in any case: "L2") for the vectors of s, or
// with name "" the one their kind is compared by: DM for metric
// histograms, Euclidean for the rest. Metric
// histograms are compared only by DM, and DM compares only them.
func (s *Set) MetricFor(name string) (index.Metric, error) {
	name = strings.ToLower(name)
	hist := s.Kind == histogram.KindMetric
	switch {
	case name == "" && hist, name == histogram.DMIndexMetric.Name() && hist:
		return histogram.DMIndexMetric, nil
	case name == "":
		return index.Euclidean, nil
	case name == histogram.DMIndexMetric.Name():
		return index.Metric{}, fmt.Errorf("the dm metric compares metric histograms: %s holds %s, not a Parquet file of %s records", s.Name, s.describe(), histogram.KindMetric)
	case hist:
		return index.Metric{}, fmt.Errorf("%s holds %s records, metric histograms of varying length, compared only by dm (leave the metric out, or give dm)", s.Name, s.Kind)
	}
	m, err := index.MetricNamed(name)
	if err != nil {
		return index.Metric{}, fmt.Errorf("unknown metric %q (want %s)", name, strings.Join(MetricNames(), ", "))
	}
	return m, nil
}

// describe says what s's vectors are, for errors.
func (s *Set) describe() string {
	if s.Kind != "" {
		return s.Kind + " records"
	}
	return "plain vectors"
}

// Layout says what each vector of s holds, to follow its count in a
// report: " of 8" (values), or for metric histograms, whose length varies, ": metric
// histograms of up to 6 points (padded to 13 values)".
func (s *Set) Layout() string {
	if s.Kind == histogram.KindMetric {
		return fmt.Sprintf(": metric histograms of up to %s (padded to %d values)", Count((s.Dim-1)/2, "point"), s.Dim)
	}
	return fmt.Sprintf(" of %d", s.Dim)
}

// padTo lengthens every vector of s to d values with zeros.
func (s *Set) padTo(d int) {
	if d == s.Dim {
		return
	}
	data := make([]float32, 0, s.Len()*d)
	for i := range s.Len() {
		data = append(data, s.Row(i)...)
		data = append(data, make([]float32, d-s.Dim)...)
	}
	s.Data, s.Dim = data, d
}
