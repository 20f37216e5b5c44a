// Package histogram computes Hounsfield-unit histograms of reconstructed
// volumes, per volume, per axial slice and per object (a mask or a label
// image: Count), and reduces them to metric histograms compared by the
// distance DM (Reduce, MetricHistograms).
//
// Metric histograms are Traina, Traina, Bueno and Azevedo-Marques's ("The
// metric histogram: a new and efficient approach for content-based image
// retrieval", IFIP VDB 2002; with Chino, "Efficient content-based image
// retrieval through metric histograms", World Wide Web 6(2):157-185, 2003):
// a normalised histogram reduced to a variable number of buckets bounded by
// control points where the curve's shape changes, so that images of
// different sizes and binnings compare, and DM, the area between two such
// piecewise-linear curves, a metric that metric trees (Slim-tree) can index.
//
// Here the curve is a density over HU (area 1), so DM lies in [0, 2] and
// histograms of different binnings of the HU axis compare directly. The
// control points are chosen by area (Visvalingam and Whyatt's elimination),
// which bounds DM between a histogram and its metric histogram; the
// published extractor (GBDI-ICMC-USP's Artemis) keeps local extrema and
// points where the slope turns by more than a threshold, with a maximum
// bucket width, thresholds in one image's grey levels and counts. DM is the
// exact area, crossings included; the published evaluator (Arboretum)
// counts a crossing segment at half its area. Only the papers' abstracts and
// that published code could be read where this package was written.
package histogram
