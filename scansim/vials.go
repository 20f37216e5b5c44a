package scansim

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/sinogram"
)

// vialMaterials maps the material names of scan.json's vials (those the
// decomposition's --materials flag takes) to the simulator's.
var vialMaterials = map[string]string{
	"water": Water, "lipid": Lipid, "ha": Hydroxyapatite, "iodine": Iodine, "gadolinium": Gadolinium,
}

// Density returns the density of the pure material in g/cm³ (see
// materialDensity's sources), and false for a material it does not know.
func Density(material string) (float64, bool) {
	d, ok := materialDensity[material]
	return d, ok
}

// NewVial returns a vial of radius r mm at (x, y) mm holding solutes (mg/mL
// by material: ha, iodine, gadolinium) in a base of lipid (volume fraction
// lipid) and water: each solute takes the volume of its mass at its pure
// density (hydroxyapatite's crystal 3.16 g/cm³, iodine's 4.93), lipid its
// fraction, and water the rest.
func NewVial(name string, x, y, r float64, lipid float64, solutes map[string]float64) sinogram.Vial {
	water := 1 - lipid
	for m, c := range solutes {
		water -= c / 1000 / materialDensity[vialMaterials[m]]
	}
	v := sinogram.Vial{Name: name, CenterMM: [2]float64{x, y}, RadiusMM: r, MgPerML: maps.Clone(solutes),
		VolumeFraction: map[string]float64{}}
	if water > 0 {
		v.VolumeFraction["water"] = water
	}
	if lipid > 0 {
		v.VolumeFraction["lipid"] = lipid
	}
	return v
}

// VialPhantom returns a water cylinder of the given diameter (mm) holding
// the vials, each a cylinder of its radius filled as scan.json states
// (sinogram.Vial): the vial's region replaces the water beneath it by its
// contents, solutes at their mg/mL, base materials at their volume
// fraction times their density. Every shape is twice as tall as the
// phantom is wide, as in SpectralPhantom. Unknown materials are errors.
func VialPhantom(diameter float64, vials []sinogram.Vial) ([]Region, error) {
	r, h := diameter/2, diameter
	regions := []Region{{Name: "water", Components: []Component{{Water, 1}},
		Shape: phantom.Object{Kind: phantom.Cylinder, Axes: fdk.Vec3{r, r, h}}}}
	for i, v := range vials {
		comps := []Component{{Water, -1}}
		// Base materials at their fraction of their density, solutes at
		// their mg/mL in g/cm³.
		for _, part := range []struct {
			amounts map[string]float64
			density func(sim string) float64
		}{
			{v.VolumeFraction, func(sim string) float64 { return materialDensity[sim] }},
			{v.MgPerML, func(string) float64 { return 1e-3 }},
		} {
			for _, m := range slices.Sorted(maps.Keys(part.amounts)) {
				sim, ok := vialMaterials[m]
				if !ok {
					return nil, fmt.Errorf("vial %d (%s): unknown material %q (known: water, lipid, ha, iodine, gadolinium)", i, v.Name, m)
				}
				comps = append(comps, Component{sim, part.amounts[m] * part.density(sim)})
			}
		}
		regions = append(regions, Region{Name: v.Name, Components: comps, Shape: phantom.Object{Kind: phantom.Cylinder,
			Center: fdk.Vec3{v.CenterMM[0], v.CenterMM[1], 0}, Axes: fdk.Vec3{v.RadiusMM, v.RadiusMM, h}}})
	}
	return regions, nil
}

// ring places n vials evenly on a circle of radius rr mm, the first at
// angle deg (from +x towards +y).
func ring(n int, rr, deg float64) [][2]float64 {
	out := make([][2]float64, n)
	for i := range out {
		s, c := math.Sincos((deg + 360*float64(i)/float64(n)) * math.Pi / 180)
		out[i] = [2]float64{rr * c, rr * s}
	}
	return out
}

// CalibrationVials are the vials of a material calibration phantom of the
// given diameter (mm), as a spectral CT lab scans one: water, lipid,
// hydroxyapatite at 100, 200 and 400 mg/mL, iodine and gadolinium at 2, 5
// and 10 mg/mL, each of radius diameter/14, eight on a ring at 0.31 of the
// diameter from the axis and three on one at 0.13.
func CalibrationVials(diameter float64) []sinogram.Vial {
	r := diameter / 14
	at := append(ring(8, 0.31*diameter, 0), ring(3, 0.13*diameter, 30)...)
	return placeVials(at, r, []vialContent{
		{"water", 0, nil},
		{"iodine 2 mg/mL", 0, map[string]float64{"iodine": 2}},
		{"HA 100 mg/mL", 0, map[string]float64{"ha": 100}},
		{"gadolinium 5 mg/mL", 0, map[string]float64{"gadolinium": 5}},
		{"iodine 10 mg/mL", 0, map[string]float64{"iodine": 10}},
		{"HA 400 mg/mL", 0, map[string]float64{"ha": 400}},
		{"gadolinium 10 mg/mL", 0, map[string]float64{"gadolinium": 10}},
		{"lipid", 1, nil},
		{"iodine 5 mg/mL", 0, map[string]float64{"iodine": 5}},
		{"HA 200 mg/mL", 0, map[string]float64{"ha": 200}},
		{"gadolinium 2 mg/mL", 0, map[string]float64{"gadolinium": 2}},
	})
}

// vialContent is what NewVial puts in a vial.
type vialContent struct {
	name    string
	lipid   float64
	solutes map[string]float64
}

// placeVials makes a vial of radius r of each content at its place.
func placeVials(at [][2]float64, r float64, contents []vialContent) []sinogram.Vial {
	vials := make([]sinogram.Vial, len(contents))
	for i, c := range contents {
		vials[i] = NewVial(c.name, at[i][0], at[i][1], r, c.lipid, c.solutes)
	}
	return vials
}

// TestVials are vials of other contents, at other places, than
// CalibrationVials, for checking a decomposition calibrated on those,
// drawn from seed: two of iodine and two of gadolinium at 1 to 10 mg/mL,
// two of hydroxyapatite at 100 to 400 mg/mL (each pair's concentrations
// uniform, the calibration's range), a mixture of 20 to 80 % lipid in
// water, and pure lipid; radius diameter/14, in an order drawn at random
// on six places on a ring of 0.27 to 0.31 of the diameter, turned by a
// random angle, and two either side of the axis at 0.11 of it. The
// names state the contents; different seeds give different vials.
func TestVials(diameter float64, seed uint64) []sinogram.Vial {
	rng := rand.New(rand.NewPCG(seed, 0x7669616c73)) // "vials"
	uniform := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	turn := uniform(0, 360)
	at := append(ring(6, uniform(0.27, 0.31)*diameter, turn), ring(2, 0.11*diameter, turn+30)...)
	var contents []vialContent
	for range 2 {
		for _, s := range []struct {
			name, unit string
			lo, hi     float64
		}{{"iodine", "iodine", 1, 10}, {"gadolinium", "gadolinium", 1, 10}, {"HA", "ha", 100, 400}} {
			c := math.Round(uniform(s.lo, s.hi)*10) / 10
			contents = append(contents, vialContent{fmt.Sprintf("%s %g mg/mL", s.name, c), 0, map[string]float64{s.unit: c}})
		}
	}
	lipid := math.Round(uniform(0.2, 0.8)*100) / 100
	contents = append(contents, vialContent{fmt.Sprintf("lipid %.0f %%", 100*lipid), lipid, nil}, vialContent{"lipid", 1, nil})
	rng.Shuffle(len(contents), func(i, j int) { contents[i], contents[j] = contents[j], contents[i] })
	return placeVials(at, diameter/14, contents)
}
