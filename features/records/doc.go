// Package records is the form in which every feature leaves the extractors:
// one Record per feature kind and per bin, slice or object of a scan, sent
// to the FEATURES stream as JSON (Marshal) and written to Parquet files
// (WriteParquet) that DuckDB, pandas and Arrow read.
//
// A record names where its values come from (scan, study, series, energy
// bin, slice or object), what they are (kind and version) and how they were
// computed (the hash of the extraction settings, whose JSON a Parquet file
// carries in its key-value metadata). It never holds a patient name: the
// patient appears only as a pseudonym, the HMAC-SHA256 of the patient ID
// under the deployment's key (Pseudonymise), which links the records of
// one patient within a deployment and means nothing outside it.
//
// # Parquet
//
// A file holds records and, as file key-value metadata, the settings of
// each settings hash ("ctrecon.settings", a JSON object from hash to
// settings) and optionally the names of the vector's components
// ("ctrecon.names", a JSON array: radiomics' "tag|aggregation"). Columns:
//
//	scan_id, job_id, patient, study_uid, series_uid   string
//	bin, slice                                        int32 (slice −1: the whole volume)
//	object                                            int64 (0: the whole image)
//	class, kind                                       string
//	version                                           int32
//	settings_hash                                     string
//	data                                              string (the kind's structured result as JSON, or empty)
//	values                                            FixedSizeList<float32>, or List<float32> when lengths differ
//
// Each row group is one record batch built for it, never a slice of a
// larger one: arrow-go v18 writes sliced batches of fixed-size lists wrongly.
// Columns are compressed with zstd. ReadParquet reads fixed-size and
// variable lists alike (DuckDB writes the latter), of float32 or float64.
package records
