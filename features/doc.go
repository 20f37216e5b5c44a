// Package features computes the feature vectors a worker publishes for each
// reconstructed volume, and the keys the search service knows them by.
//
// A Vector carries its identifiers (study, series, energy bin, slice), a kind
// naming the extractor and its version, and the values. Its key is the series
// UID for a whole volume and "SERIES_UID:SLICE" for one axial slice; DICOM
// UIDs hold only digits and dots, so the colon is unambiguous.
//
// The first extractor is the normalised intensity histogram in Hounsfield
// units (KindHistHU): see Histograms for its binning.
package features
