// Package bench holds ctrecon's benchmarks: back-projection speed in GUPS,
// whole-reconstruction seconds and peak memory for the standard problem
// sizes, and side-by-side runs against peer tools on the same data.
//
// Run them with `make bench`; bench/RESULTS.md records the figures and the
// machine they were measured on. Timings never appear in tests.
package bench
