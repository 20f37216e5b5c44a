// Package index holds the similarity indexes the search service (package
// search) answers from, the interface they share, and their distances.
//
// Every index implements Index: add, delete, get, k-nearest and range
// search, length, and Save to a versioned, checksummed format that Load
// reads back for any registered Kind. Distances are Metrics: Euclidean,
// Manhattan, Cosine, Jaccard, or any function given with NewMetric; each
// has a float64 Distance that indexes report and a float32 rank (AVX2
// where the processor has it) that approximate indexes navigate by.
//
// Exact is the brute-force k-nearest-neighbour index: every query measures
// every stored vector. It is the reference every approximate index (HNSW in
// index/hnsw) is tested against, and fast enough on its own for a library
// of some hundred thousand 64-bin histograms.
package index
