// Package extract runs the feature extractors of features/... on a
// reconstructed scan or on any CT image and turns what they find into
// feature records (features/records): what the worker publishes after each
// reconstruction (Scan) and what `ctrecon features` writes (Image,
// Radiomics).
//
// One Settings value holds every extractor's settings; its hash is every
// record's settings hash, and its JSON goes into the Parquet files.
package extract
