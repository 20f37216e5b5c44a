// Package histogram computes Hounsfield-unit histograms of reconstructed
// volumes, per volume, per axial slice and per object (a mask or a label
// image), and reduces them to metric histograms compared by the distance DM.
package histogram
