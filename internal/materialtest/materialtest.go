// Package materialtest holds the material decomposition's accuracy bounds
// (issue 15's must-show), which the package's own accuracy test and the
// command line's both hold a decomposition to.
package materialtest

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/sinogram"
)

// BaseTol is how far a water or lipid volume fraction may read from the
// truth.
const BaseTol = 0.1

// Miss says why got, the amount of material m read in vial v (mg/mL, or a
// volume fraction for water and lipid), misses the bound for a
// true amount want, or "" when it meets it: water and lipid within
// baseTol; hydroxyapatite within 10 %; iodine and gadolinium within 10 %
// or 0.5 mg/mL, whichever is larger; iodine in a gadolinium vial and the
// reverse (cross-talk) under 0.5 mg/mL. Other readings of an absent
// material are not bounded.
func Miss(v sinogram.Vial, m string, got, want, baseTol float64) string {
	switch {
	case m == "water" || m == "lipid":
		if math.Abs(got-want) > baseTol {
			return fmt.Sprintf("want within %g", baseTol)
		}
	case want > 0 && m == "ha":
		if math.Abs(got-want) > 0.1*want {
			return "want within 10 %"
		}
	case want > 0:
		if math.Abs(got-want) > max(0.1*want, 0.5) {
			return "want within 10 % or 0.5 mg/mL"
		}
	case m == "iodine" && v.MgPerML["gadolinium"] > 0, m == "gadolinium" && v.MgPerML["iodine"] > 0:
		if got >= 0.5 {
			return "cross-talk, want under 0.5 mg/mL"
		}
	}
	return ""
}
