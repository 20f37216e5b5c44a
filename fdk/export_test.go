package fdk

// ReconstructScan is Reconstruct with the decision between a full and a
// short scan taken by full instead of by the fan-angle rule, so that tests
// can measure both weightings of one scan.
func ReconstructScan(geom *Geometry, grid Grid, projections [][]float32, full func(Scan) bool) (*Volume, error) {
	r, err := New(geom, grid, 1, Options{})
	if err != nil {
		return nil, err
	}
	defer r.Abort()
	w := &Weights{geom: geom, views: r.views}
	if err := w.build(full); err != nil {
		return nil, err
	}
	r.weights = w
	return r.single(projections)
}
