// Package phantom provides analytic test objects for cone-beam CT whose
// projections are known exactly: ellipsoids, elliptic cylinders and boxes,
// rotated about the z axis (the rotation axis of [fdk.Geometry]), with
// densities that add where objects overlap (the Shepp-Logan convention).
//
// Line integrals are computed in closed form from chord lengths, so a
// projection of a phantom is exact to float64 rounding and reconstruction
// errors measured against it belong to the reconstructor alone. [Phantom.Sample]
// gives the matching ground-truth volume, optionally averaged over sub-voxels
// so that edges are compared fairly.
//
// Lengths are millimetres, densities are attenuation per millimetre, so line
// integrals are dimensionless, as [fdk] expects.
package phantom
