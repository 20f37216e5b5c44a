package fdk

// GeometryFOV returns the field of view of geom's views on grid exactly as
// a Reconstructor of geom onto grid masks with (Reconstructor.FOV: on the
// detector widened for a displaced one), without reconstructing anything:
// a reconstruction split into slabs writes its assembled volume with the
// whole grid's. Errors are those of New about the geometry and the grid.
func GeometryFOV(geom *Geometry, grid Grid) (*FOV, error) {
	views, w, err := weighted(geom, grid)
	if err != nil {
		return nil, err
	}
	left, right := w.Extension()
	det, wide := Widen(geom.Detector, views, left, right)
	return NewFOV(wide, det, grid), nil
}

// weighted returns geom's views and their weights, once grid is known to
// be valid.
func weighted(geom *Geometry, grid Grid) ([]View, *Weights, error) {
	views, err := geom.Views()
	if err != nil {
		return nil, nil, err
	}
	if err := grid.Validate(); err != nil {
		return nil, nil, err
	}
	w, err := NewWeights(geom, views)
	return views, w, err
}
