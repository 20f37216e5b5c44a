package radiomics

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/internal/ibsitest"
)

// codeErrata are the permanent identifiers that the IBSI documentation's
// reference tables (and so the CSV files made from them) give wrongly, with
// the manual's: the intensity histogram's percentiles are shifted by one
// row, and small zone emphasis has none.
var codeErrata = map[string][2]string{
	"ih.p10":  {"1PR8", "GPMT"},
	"ih.p90":  {"GPMT", "OZ0C"},
	"szm.sze": {"", "5QRC"},
}

// compareWithReferences checks every reference value against the features
// and returns the matches and totals per family, with a line per miss.
func compareWithReferences(t testing.TB, refs []ibsitest.Reference, feats []Feature) (match, total map[string]int, misses []string) {
	t.Helper()
	byKey := map[string]Feature{}
	for _, f := range feats {
		byKey[f.Tag+"|"+f.Aggregation] = f
	}
	match, total = map[string]int{}, map[string]int{}
	for _, r := range refs {
		fam, _, _ := strings.Cut(r.Tag, ".")
		total[fam]++
		f, ok := byKey[r.Tag+"|"+r.Aggregation]
		switch {
		case !ok:
			misses = append(misses, fmt.Sprintf("%s %q: not computed (reference %v)", r.Tag, r.Aggregation, r.Value))
			continue
		case f.Code != r.Code && codeErrata[r.Tag] != [2]string{r.Code, f.Code}:
			t.Errorf("%s: IBSI code %q, the reference says %q", r.Tag, f.Code, r.Code)
		}
		if r.Matches(f.Value) {
			match[fam]++
			continue
		}
		tol := "3 significant digits"
		if !math.IsNaN(r.Tolerance) {
			tol = "± " + strconv.FormatFloat(r.Tolerance, 'g', -1, 64)
		}
		misses = append(misses, fmt.Sprintf("%s %q: %.6g, reference %v (%s)", r.Tag, r.Aggregation, f.Value, r.Value, tol))
	}
	return match, total, misses
}

// report logs the matches per family and the misses.
func report(t testing.TB, title string, match, total map[string]int, misses []string) {
	t.Helper()
	var fams []string
	n, m := 0, 0
	for f := range total {
		fams = append(fams, f)
		n += total[f]
		m += match[f]
	}
	sort.Slice(fams, func(i, j int) bool { return familyOrder(fams[i]) < familyOrder(fams[j]) })
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d reference values reproduced\n", title, m, n)
	for _, f := range fams {
		fmt.Fprintf(&b, "  %-6s %3d / %3d\n", f, match[f], total[f])
	}
	for _, miss := range misses {
		fmt.Fprintf(&b, "  miss: %s\n", miss)
	}
	t.Log(b.String())
}

func familyOrder(f string) int {
	for i, g := range Families {
		if g == f {
			return i
		}
	}
	return len(Families)
}
