package ann

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/index"
)

// prSet is five points on a line: a at 0, 1 and 10, b at 2 and 11.
func prSet() *Set {
	return &Set{Name: "line", Dim: 1, Data: []float32{0, 1, 2, 10, 11}, Labels: []string{"a", "a", "b", "a", "b"}}
}

// TestPrecisionRecall checks the curves against hand-counted answers.
// Each of the five points queries the other four; the answers of 1, 2 and
// 4 rows (a quarter, half and all) hold, nearest first (row 1's tie at
// distance 1 going to row 0, the lower row):
//
//	query 0 (a): 1a 2b 3a 4b   precision 1, 1/2, 1/2   recall 1/2, 1/2, 1
//	query 1 (a): 0a 2b 3a 4b   precision 1, 1/2, 1/2   recall 1/2, 1/2, 1
//	query 2 (b): 1a 0a 3a 4b   precision 0, 0, 1/4     recall 0, 0, 1
//	query 3 (a): 4b 2b 1a 0a   precision 0, 0, 1/2     recall 0, 0, 1
//	query 4 (b): 3a 2b 1a 0a   precision 0, 1/2, 1/4   recall 0, 1, 1
//
// With groups {0, 1, 2} and {3, 4}, answering all of the group: queries
// 0 and 1 get precision 1/2 and recall 1, the others precision 0 and no
// recall (no other row of their label in their group).
func TestPrecisionRecall(t *testing.T) {
	got, err := PrecisionRecall(prSet(), Retrieval{Metric: index.Euclidean, Fractions: []float64{0.25, 0.5, 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := []PRPoint{{0.25, 0.4, 0.2}, {0.5, 0.3, 0.4}, {1, 0.4, 1}}
	checkPR(t, got, want)

	got, err = PrecisionRecall(prSet(), Retrieval{Metric: index.Euclidean, Fractions: []float64{1}, Groups: []string{"x", "x", "x", "y", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	checkPR(t, got, []PRPoint{{1, 0.2, 1}})

	var table bytes.Buffer
	if err := WritePRTable(&table, []PRCurve{{Name: "L2", Points: want}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "| 50 | 0.300 | 0.400 |") {
		t.Errorf("table lacks the half-database row:\n%s", table.String())
	}
}

func checkPR(t *testing.T, got, want []PRPoint) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d points, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Fraction != w.Fraction || math.Abs(g.Precision-w.Precision) > 1e-12 || math.Abs(g.Recall-w.Recall) > 1e-12 {
			t.Errorf("point %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestPrecisionRecallBadInput(t *testing.T) {
	unlabelled := prSet()
	unlabelled.Labels = nil
	for name, c := range map[string]struct {
		set  *Set
		r    Retrieval
		want string
	}{
		"no labels":   {unlabelled, Retrieval{Metric: index.Euclidean}, "need labels"},
		"fraction 0":  {prSet(), Retrieval{Metric: index.Euclidean, Fractions: []float64{0}}, "fraction 0"},
		"groups":      {prSet(), Retrieval{Metric: index.Euclidean, Groups: []string{"x"}}, "1 group for 5 vectors"},
		"bad vectors": {prSet(), Retrieval{Metric: index.Cosine}, "row 1"},
	} {
		if _, err := PrecisionRecall(c.set, c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, c.want)
		}
	}
}
