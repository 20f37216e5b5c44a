package ann

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/index"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// Fractions are the answer sizes of the retrieval-quality curves, as
// fractions of the database: from 1 % to all of it, as the metric-histogram
// papers (Traina et al.) plot precision against recall.
var Fractions = []float64{0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}

// PRPoint is the mean precision and recall of the k-NN queries that return
// a fraction of the database.
type PRPoint struct {
	Fraction float64 `json:"fraction"`
	// Precision is the share of the answer that has the query's label,
	// Recall the share of the database's vectors with the query's label
	// that the answer holds; both averaged over the queries.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// Retrieval says how PrecisionRecall queries a labelled set.
type Retrieval struct {
	Metric index.Metric
	// Fractions are the answer sizes, fractions of the rows a query
	// searches, in (0, 1]; nil: Fractions.
	Fractions []float64
	// Groups, when not nil, holds one group per row: a query searches
	// only the rows of its own group (the records of one energy bin, say).
	Groups []string
}

// PrecisionRecall measures retrieval by label: every row of s queries the
// other rows (of its group), leaving itself out, and its k nearest under
// r.Metric for k = ⌈f·n⌉ of the n rows searched, for each fraction f,
// are counted. Precision is the share of those k with the query's label,
// recall the share of the n rows with the query's label that they are.
// Both are averaged over the queries, a query with no other row of its
// label counting in precision only. Equal distances rank by row number.
func PrecisionRecall(s *Set, r Retrieval) ([]PRPoint, error) {
	fractions := r.Fractions
	if fractions == nil {
		fractions = Fractions
	}
	if err := checkRetrieval(s, r, fractions); err != nil {
		return nil, err
	}
	members := map[string][]int{}
	for i := range s.Len() {
		members[r.group(i)] = append(members[r.group(i)], i)
	}
	prec := make([][]float64, s.Len()) // per query, per fraction
	rec := make([][]float64, s.Len())
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for q := int(next.Add(1) - 1); q < s.Len(); q = int(next.Add(1) - 1) {
				prec[q], rec[q] = queryPR(s, r.Metric, q, members[r.group(q)], fractions)
			}
		})
	}
	wg.Wait()
	out := make([]PRPoint, len(fractions))
	for f, frac := range fractions {
		var p, rc float64
		var withRelevant int
		for q := range prec {
			p += prec[q][f]
			if !math.IsNaN(rec[q][f]) {
				rc += rec[q][f]
				withRelevant++
			}
		}
		out[f] = PRPoint{Fraction: frac, Precision: p / float64(len(prec)), Recall: rc / float64(max(withRelevant, 1))}
	}
	return out, nil
}

// checkRetrieval reports what PrecisionRecall cannot measure.
func checkRetrieval(s *Set, r Retrieval, fractions []float64) error {
	switch {
	case s.Labels == nil:
		return fmt.Errorf("%s: precision and recall need labels", s.Name)
	case r.Groups != nil && len(r.Groups) != s.Len():
		return fmt.Errorf("%s: %s for %s", s.Name, Count(len(r.Groups), "group"), Count(s.Len(), "vector"))
	}
	for _, f := range fractions {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("answer fraction %g: want one in (0, 1]", f)
		}
	}
	for i := range s.Len() {
		if err := index.CheckVector(fmt.Sprint(i+1), s.Row(i), r.Metric); err != nil {
			return fmt.Errorf("%s, row %d: %w", s.Name, i+1, err)
		}
	}
	return nil
}

func (r Retrieval) group(i int) string {
	if r.Groups == nil {
		return ""
	}
	return r.Groups[i]
}

// queryPR ranks the rows of members other than q by their distance from
// row q and returns the precision and recall of each fraction's answer
// (recall NaN when no other row has q's label).
func queryPR(s *Set, m index.Metric, q int, members []int, fractions []float64) (prec, rec []float64) {
	type hit struct {
		row  int
		dist float64
	}
	hits := make([]hit, 0, len(members))
	relevant := 0
	for _, i := range members {
		if i == q {
			continue
		}
		hits = append(hits, hit{i, m.Distance(s.Row(q), s.Row(i))})
		if s.Labels[i] == s.Labels[q] {
			relevant++
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.row, b.row)) })
	// same[k] counts the rows of q's label among the k nearest.
	same := make([]int, len(hits)+1)
	for k, h := range hits {
		same[k+1] = same[k]
		if s.Labels[h.row] == s.Labels[q] {
			same[k+1]++
		}
	}
	prec, rec = make([]float64, len(fractions)), make([]float64, len(fractions))
	for f, frac := range fractions {
		k := max(int(math.Ceil(frac*float64(len(hits))-1e-9)), 1)
		k = min(k, len(hits))
		if k == 0 {
			prec[f], rec[f] = math.NaN(), math.NaN()
			continue
		}
		prec[f] = float64(same[k]) / float64(k)
		rec[f] = math.NaN()
		if relevant > 0 {
			rec[f] = float64(same[k]) / float64(relevant)
		}
	}
	return prec, rec
}

// PRCurve is one feature's precision-recall curve, named.
type PRCurve struct {
	Name   string    `json:"name"`
	Points []PRPoint `json:"points"`
}

// WritePRTable writes the curves as a Markdown table: a row per answer
// fraction, per curve its precision and recall.
func WritePRTable(w io.Writer, curves []PRCurve) error {
	head, rule := "| answer (% of database) |", "|---|"
	for _, c := range curves {
		head += fmt.Sprintf(" %s P | R |", c.Name)
		rule += "---|---|"
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", head, rule); err != nil {
		return err
	}
	for f := range curves[0].Points {
		line := fmt.Sprintf("| %.0f |", 100*curves[0].Points[f].Fraction)
		for _, c := range curves {
			line += fmt.Sprintf(" %.3f | %.3f |", c.Points[f].Precision, c.Points[f].Recall)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// PlotPR draws precision against recall, one line per curve, and writes it
// as a PNG to path.
func PlotPR(path, title string, curves []PRCurve) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "recall"
	p.Y.Label.Text = "precision"
	// Room above precision 1 for the legend, the ticks only up to 1.
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.05+0.07*float64(len(curves))
	var ticks []plot.Tick
	for i := range 6 {
		ticks = append(ticks, plot.Tick{Value: float64(i) / 5, Label: fmt.Sprintf("%.1f", float64(i)/5)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Legend.Top = true
	for i, c := range curves {
		xy := make(plotter.XYs, len(c.Points))
		for j, pt := range c.Points {
			xy[j] = plotter.XY{X: pt.Recall, Y: pt.Precision}
		}
		if err := addLine(p, i, c.Name, xy); err != nil {
			return err
		}
	}
	return savePNG(p, path)
}
