package segment

import (
	"fmt"
	"slices"
)

// checkAirMargin reports an AirMarginVoxels that cannot work, naming it.
func (s Settings) checkAirMargin() error {
	switch {
	case s.AirMarginVoxels < 0 || s.AirMarginVoxels > 16:
		return fmt.Errorf("%w: settings: AirMarginVoxels: %d, want 0 to 16", ErrInput, s.AirMarginVoxels)
	case s.AirMarginVoxels > 0 && !slices.Contains(s.Classes, Air):
		return fmt.Errorf("%w: settings: AirMarginVoxels: %d, but no class is %q", ErrInput, s.AirMarginVoxels, Air)
	}
	return nil
}

// trimRim gives the voxels of class (class codes, classify) that lie
// within s.AirMarginVoxels steps of the 6-connected cross from a voxel of
// the Air class, and are not air themselves, code 0 (None): the partial
// volume where tissue meets air. Voxels beyond the volume's faces count as
// no air.
func trimRim(class []uint8, dim [3]int, s Settings) {
	if s.AirMarginVoxels == 0 {
		return
	}
	air := uint8(slices.Index(s.Classes, Air) + 1)
	near := make([]bool, len(class))
	for i, c := range class {
		near[i] = c == air
	}
	nx, plane := dim[0], dim[0]*dim[1]
	next := make([]bool, len(near))
	for range s.AirMarginVoxels {
		for v := range near {
			i, j, k := v%nx, v/nx%dim[1], v/plane
			next[v] = near[v] ||
				(i > 0 && near[v-1]) || (i < nx-1 && near[v+1]) ||
				(j > 0 && near[v-nx]) || (j < dim[1]-1 && near[v+nx]) ||
				(k > 0 && near[v-plane]) || (k < dim[2]-1 && near[v+plane])
		}
		near, next = next, near
	}
	for v, c := range class {
		if near[v] && c != air {
			class[v] = 0
		}
	}
}
