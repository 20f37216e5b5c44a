package sinogram_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// TestVials checks that scan.json carries a phantom's vials through a
// write and a read unchanged, and refuses a vial whose size or contents are
// not amounts, naming the field.
func TestVials(t *testing.T) {
	spec := tinySpec()
	spec.Vials = scansim.CalibrationVials(8)
	var err error
	if spec.Phantom, err = scansim.VialPhantom(8, spec.Vials); err != nil {
		t.Fatal(err)
	}
	sim, err := scansim.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sim.Scan().WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	got, err := sinogram.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Vials, spec.Vials) {
		t.Errorf("vials read back %+v, wrote %+v", got.Vials, spec.Vials)
	}
	for _, c := range []struct {
		edit func(v map[string]any)
		want string
	}{
		{func(v map[string]any) { v["radius_mm"] = 0 }, "vials[1]"},
		{func(v map[string]any) { v["mg_per_ml"] = map[string]any{"iodine": -1} }, "vials[1].mg_per_ml.iodine"},
		{func(v map[string]any) { v["volume_fraction"] = map[string]any{"water": 1.5} }, "vials[1].volume_fraction.water"},
	} {
		editManifest(t, dir, func(m map[string]any) {
			m["vials"] = []any{map[string]any{"name": "ok", "center_mm": []any{0, 0}, "radius_mm": 1}, map[string]any{"name": "bad", "center_mm": []any{1, 1}, "radius_mm": 1}}
			c.edit(m["vials"].([]any)[1].(map[string]any))
		})
		_, err := sinogram.ReadManifest(dir)
		if !errors.Is(err, sinogram.ErrManifest) || !strings.Contains(err.Error(), c.want+":") {
			t.Errorf("got %v, want an invalid manifest naming %s", err, c.want)
		}
	}
}
