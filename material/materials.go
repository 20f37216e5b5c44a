package material

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ctrecon/ctrecon/scansim"
)

// Units of a material's amount.
const (
	MgPerML        = "mg/mL"
	VolumeFraction = "volume fraction"
)

// Material is a basis material of the decomposition.
type Material struct {
	// Name is how --materials and a calibration name it.
	Name string
	// Unit is MgPerML for a solute, VolumeFraction for a base material.
	Unit string
	// Displaced is the volume one unit takes, as a fraction of the voxel:
	// 1 for a base material, 1/(1000 ρ) for a solute of pure density ρ
	// (g/mL) per mg/mL.
	Displaced float64
	// table is the material's name in scansim's attenuation tables.
	table string
}

// Base reports whether m is a base material (its amount a volume fraction).
func (m Material) Base() bool { return m.Unit == VolumeFraction }

// Known are the materials the decomposition knows, in the order maps are
// written.
var Known = func() []Material {
	mats := []Material{
		{Name: "water", Unit: VolumeFraction, table: scansim.Water},
		{Name: "lipid", Unit: VolumeFraction, table: scansim.Lipid},
		{Name: "ha", Unit: MgPerML, table: scansim.Hydroxyapatite},
		{Name: "iodine", Unit: MgPerML, table: scansim.Iodine},
		{Name: "gadolinium", Unit: MgPerML, table: scansim.Gadolinium},
	}
	for i := range mats {
		mats[i].Displaced = 1
		if !mats[i].Base() {
			rho, _ := scansim.Density(mats[i].table)
			mats[i].Displaced = 1 / (1000 * rho)
		}
	}
	return mats
}()

// KnownNames returns the names of Known, comma-separated.
func KnownNames() string {
	names := make([]string, len(Known))
	for i, m := range Known {
		names[i] = m.Name
	}
	return strings.Join(names, ",")
}

// Lookup returns the known material of that name.
func Lookup(name string) (Material, error) {
	i := slices.IndexFunc(Known, func(m Material) bool { return m.Name == name })
	if i < 0 {
		return Material{}, fmt.Errorf("unknown material %q (known: %s)", name, KnownNames())
	}
	return Known[i], nil
}

// ParseSet returns the materials names lists, in any case and with
// spaces about them ("Water" is water), refusing an empty list, an empty
// name (a doubled comma: what was meant is unknown), an unknown name and
// a material given twice.
func ParseSet(names []string) ([]Material, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no materials (known: %s)", KnownNames())
	}
	out := make([]Material, len(names))
	for i, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, fmt.Errorf("item %d of %q is empty: name a material there or remove it (known: %s)", i+1, strings.Join(names, ","), KnownNames())
		}
		m, err := Lookup(strings.ToLower(n))
		if err != nil {
			return nil, fmt.Errorf("unknown material %q (known: %s)", n, KnownNames())
		}
		if slices.Contains(out[:i], m) {
			return nil, fmt.Errorf("material %q listed twice", m.Name)
		}
		out[i] = m
	}
	return out, nil
}
