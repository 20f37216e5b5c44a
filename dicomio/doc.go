// Package dicomio writes reconstructions out as DICOM: one CT Image Storage
// series per energy bin, one file per axial slice, in Hounsfield units.
//
// A spectral scan gives one volume of linear attenuation per energy bin. Each
// becomes its own series, so that a viewer or PACS shows the bins side by
// side, while all the bins of a scan share one study and one frame of
// reference, so that they can be fused and compared voxel by voxel.
//
// Attenuation μ (1/mm) becomes HU = 1000 (μ − μwater) / μwater with the bin's
// own μwater: water depends on energy, so one μwater for all bins would put
// water at different HU in each. Pixels are stored as int16 with
// RescaleSlope 1 and RescaleIntercept −1024, the usual CT encoding; HU
// outside what int16 holds are clamped and counted.
//
// Files use explicit VR little endian with a complete file meta group and
// carry the Patient, General Study, General Series, Frame of Reference,
// General Equipment, General Image, Image Plane, Image Pixel, CT Image,
// VOI LUT and SOP Common modules, checked by the tests with dicom3tools'
// dciodvfy and DCMTK's dcmdump. The world frame of fdk (z the rotation axis)
// becomes the DICOM patient frame through Options.PatientPosition (see
// orientation.go; checked with dcm2niix); voxels outside the field of view
// carry PixelPaddingValue. UIDs are derived from names (DeriveUID), so that
// a series written again has the identifiers it had. Check finds what
// WriteSeries would refuse before there is a volume.
package dicomio
