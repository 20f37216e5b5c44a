// Package index holds the similarity indexes the search service answers
// from, and its HTTP handler.
//
// Exact is the brute-force k-nearest-neighbour index: every query measures
// every stored vector. It is the reference every approximate index is tested
// against, and fast enough on its own for a library of some hundred thousand
// 64-bin histograms.
package index
