// Package scansim simulates spectral photon-counting CT scans for tests,
// demos and benchmarks: a MARS-like scan of a material phantom, written in
// sinogram's native format (scan.json and frames), from NIST attenuation
// tables, a Kramers tube spectrum, charge-summing energy bins, pixel gains
// and defects and Poisson counting noise (Simulator); and the counting
// noise of a single-bin projection (AddPoissonNoise).
//
// The Simulator also returns the exact noiseless line integrals each bin
// should give, against which sinogram's pre-processing is tested.
package scansim
