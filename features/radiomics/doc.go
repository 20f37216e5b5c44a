// Package radiomics computes the image biomarkers of the Image Biomarker
// Standardisation Initiative (IBSI 1; Zwanenburg et al., Radiology 2020;
// 295:328-338) for a region of interest (ROI) of a 3D image: the image
// processing IBSI defines (interpolation, re-segmentation, discretisation)
// and every feature family of its reference manual, each feature carrying
// its IBSI tag (stat.mean) and permanent code (Q4LE).
//
// Compute takes an Image in any unit (Hounsfield units for CT), a Mask on
// the same grid and Settings, and returns one Feature per feature and
// aggregation method:
//
//	feats, err := radiomics.Compute(img, mask, radiomics.MustPreset("ibsi-c"))
//
// Processing follows the manual's order. The image and mask are resampled
// (Interpolation; the grids are aligned on their centres, the mask
// interpolated and kept where it is at least the partial-volume threshold,
// intensities rounded for CT). The resampled mask is the morphological mask;
// re-segmentation (a range, and the mean ± k·SD outlier filter) removes
// voxels from a copy of it, the intensity mask. Intensities inside the
// intensity mask are discretised by fixed bin number or fixed bin size for
// the intensity histogram and texture families, and separately for the
// intensity-volume histogram.
//
// Families (Settings.Families, IBSI tag prefixes): morph (mesh-based from
// marching cubes, and voxel-based), loc (local intensity), stat (intensity
// statistics), ih (intensity histogram), ivh (intensity-volume histogram),
// cm (GLCM), rlm (GLRLM), szm (GLSZM), dzm (GLDZM), ngt (NGTDM) and ngl
// (NGLDM). Texture features are aggregated as IBSI names it: GLCM and GLRLM
// "2D, averaged", "2D, slice-merged", "2.5D, direction-merged", "2.5D,
// merged", "3D, averaged" and "3D, merged"; the other texture families "2D",
// "2.5D" and "3D". Slices are the image's z planes.
//
// Values follow the manual's definitions where other software differs
// (kurtosis is excess kurtosis; variances are not bias-corrected; entropies
// are in bits). Where IBSI defines the value of a degenerate case it is
// used (skewness 0 for a constant ROI, NGTDM coarseness 10⁶); where it does
// not, the value is NaN (a correlation of a single grey level).
//
// The package is checked against IBSI's reference values: every one of the
// 482 values of the digital phantom, and every value of configurations A to
// D of the CT radiomics phantom (E too, given its values; see the tests).
package radiomics
