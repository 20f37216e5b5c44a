// Package sinogram reads, writes and checks projection sets: the images a
// scan produces, with the geometry that says where each was taken.
//
// A projection set reaches the fdk package as line integrals in
// (attenuation in 1/mm) × mm, one row-major image per view, columns
// fastest, and an fdk.Geometry.
package sinogram
