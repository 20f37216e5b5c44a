// Package fdk implements Feldkamp-Davis-Kress (FDK) filtered back-projection
// for circular cone-beam CT.
//
// Reconstruction is a chain of small stages, each its own type and test:
// weighting (cosine, Parker short-scan, Wang displaced-detector, angular
// spacing) -> row-wise ramp filtering -> voxel-driven back-projection. The
// back-projection stage is an interface, so a GPU implementation swaps in
// without touching the rest.
//
// # Coordinates and units
//
// Lengths are millimetres and angles radians inside the package. The world
// frame is right-handed with z the rotation axis. For a view at angle θ
// the source sits at SID·n + c·t, where n = (cos θ, sin θ, 0) and
// t = (-sin θ, cos θ, 0) is the direction of increasing detector column, and c
// is the centre-of-rotation offset. The detector plane is perpendicular to n at
// distance SDD from the source; its rows increase along +z.
//
// Every view reduces to one 3x4 [Matrix] that maps a world point
// (x, y, z, 1) to (col·w, row·w, w), with pixel indices counted from the
// first column and row of the stored image and w = 1 at the depth of the
// isocentre, so the FDK distance weight is 1/w². Explicit per-view matrices
// (the RabbitCT and plastimatch convention) enter the same way, so both
// back-projectors consume nothing but matrices.
//
// Volumes are float32, x fastest, then y, then z; voxel (0,0,0) is centred at
// [Grid.Origin].
//
// # Scaling
//
// Line integrals in (attenuation in 1/mm) × mm reconstruct to attenuation in
// 1/mm: the ramp filter is the band-limited kernel of Kak and Slaney
// ("Principles of Computerized Tomographic Imaging", 1988, eq. 3.61 and
// 3.120) sampled at the detector pitch scaled to the isocentre, and each
// view carries its share of the angular integral.
package fdk
