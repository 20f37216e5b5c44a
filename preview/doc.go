// Package preview draws pictures of reconstructed volumes that are worth
// opening: the three central orthogonal slices of a volume (Render), and the
// same axial slice of every energy bin of a spectral scan side by side in one
// window (Montage), each as one PNG.
//
// # Scale and interpolation
//
// Every panel has the same number of pixels per millimetre along both of its
// axes, so anisotropic voxels keep their true aspect ratio and one scale bar
// holds for every panel of a picture. The scale is the larger of one pixel
// per voxel along the finest axis and MinLongSide (512) pixels along the
// volume's longest extent, 320 in a montage's tiles so that five bins fit
// a screen side by side: a 32-slice volume no longer gives 32-pixel strips.
//
// Slices are windowed at voxel resolution into 16-bit grey and resampled
// with the Catmull-Rom cubic kernel of golang.org/x/image/draw. It passes
// through the voxel values and reproduces linear ramps exactly (no blocky
// steps), and its negative lobes give steeper edges than bilinear's tent,
// which matters for small inserts magnified 4 to 13 times; its slight
// overshoot at sharp edges is clipped to the window. Pixel centres map to voxel centres
// ((x+0.5)·voxels/pixels − 0.5); within a voxel of the volume's faces the
// kernel is truncated and renormalised.
//
// # Orientation
//
// Panels follow the radiological convention: the axial panel is seen from
// the feet (patient's right on the left, anterior at the top), the coronal
// from the front (right on the left, superior at the top), the sagittal from
// the patient's left (anterior on the left, superior at the top). Which
// patient direction each world axis of the reconstruction grid (fdk.Grid's
// x, y, z) points to is the table patientAxes in orientation.go, the one
// place to change it.
//
// # Labels
//
// Text is set in the Go font (golang.org/x/image/font/gofont/goregular),
// rasterised by golang.org/x/image/font/opentype. Each panel is titled with
// its plane and slice position, carries orientation letters on its four
// edges and a scale bar in millimetres; the picture's header names the
// volume (e.g. its energy bin and keV range) and the window, in Hounsfield
// units when the volume's water attenuation is known.
package preview
