package search

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/material"
)

// TestMaterialsFilter: the values of material.RecordKind records are named
// by their data, so that the filter "gadolinium > 1" keeps exactly the
// objects whose mean gadolinium is above 1 mg/mL (brute force over the
// records), the kinds list names them, a volume fraction (water, lipid)
// compared with a value outside 0 to 1 is refused (the maps give them in
// % of volume, and "lipid > 50" silently matched nothing), and a record
// whose data does not name its values is refused, naming it.
func TestMaterialsFilter(t *testing.T) {
	names := []string{"water", "lipid", "ha", "iodine", "gadolinium"}
	data := material.RecordData{Materials: names, Units: []string{"fraction", "fraction", "mg/mL", "mg/mL", "mg/mL"}, Calibration: "physics", Voxels: 100}
	rng := rand.New(rand.NewPCG(3, 15))
	var recs []records.Record
	var want []string
	for s := range 12 {
		base := records.Record{ScanID: fmt.Sprintf("scan-%03d", s), StudyUID: fmt.Sprintf("1.2.9.%d", s), SeriesUID: fmt.Sprintf("1.2.9.%d.1", s), Slice: -1, Settings: "0123456789abcdef"}
		for o := 1; o <= 4; o++ {
			r := base
			r.Object, r.Class = int64(o), "contrast"
			v := records.Vector{0.9, 0.05, float32(rng.Float64() * 300), float32(rng.Float64() * 3), float32(rng.Float64() * 3)}
			r = withKind(r, "materials", v, data)
			recs = append(recs, r)
			if v[4] > 1 {
				want = append(want, ItemOf(&r).String())
			}
		}
	}
	l := openFixture(t, Config{Index: "exact"}, recs)
	for _, filter := range []string{"gadolinium > 1", "materials-v1:gadolinium > 1"} {
		hits, first := all(t, l, Query{Kind: material.RecordKind, Filter: filter, Limit: 7})
		var got []string
		for _, h := range hits {
			got = append(got, h.Key)
		}
		slices.Sort(got)
		slices.Sort(want)
		if first.Total == nil || *first.Total != len(want) || !slices.Equal(got, want) {
			t.Errorf("%q: total %v, hits %v; want the %d objects with gadolinium above 1 mg/mL %v", filter, first.Total, got, len(want), want)
		}
	}
	if len(want) == 0 || len(want) == len(recs) {
		t.Fatalf("%d of %d objects above 1 mg/mL: a weak case", len(want), len(recs))
	}
	kinds, err := l.Kinds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(kinds, func(k KindInfo) bool { return k.Kind == material.RecordKind })
	if i < 0 || !slices.Equal(kinds[i].Names, names) {
		t.Errorf("kinds %+v: want %s named %v", kinds, material.RecordKind, names)
	}
	for _, filter := range []string{"lipid > 50", "materials-v1:water <= 99", "lipid < -0.1"} {
		_, err := l.Search(context.Background(), Query{Kind: material.RecordKind, Filter: filter})
		if !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), "volume fraction") || !strings.Contains(err.Error(), "0 to 1") {
			t.Errorf("%q: error %v, want ErrQuery saying the fraction is 0 to 1", filter, err)
		}
	}
	if _, err := l.Search(context.Background(), Query{Kind: material.RecordKind, Filter: "lipid > 0.5 and ha > 50"}); err != nil {
		t.Errorf("lipid > 0.5 and ha > 50: %v, want it taken", err)
	}
	bad := recs[0]
	bad.SeriesUID, bad.Data = "7.7.7", []byte(`{"materials":["water"]}`)
	if err := l.Add(context.Background(), []records.Record{bad}, 2); err == nil || !strings.Contains(err.Error(), "materials-v1 of 7.7.7") || !strings.Contains(err.Error(), "1 materials for 5 values") {
		t.Errorf("a record naming 1 material for 5 values: error %v, want one naming it", err)
	}
}
