// Package search is the search service's library: it keeps every feature
// record of the FEATURES stream (features/records) searchable.
//
// Each record's metadata and named feature values go into an SQLite
// database (modernc.org/sqlite, pure Go), indexed for the filters; each
// feature kind's vectors go into a vector index of package index (exact
// while a kind is small, HNSW beyond, or the kind Config names); virtual
// images go into the spatial index (index/spatial). A Query asks for the
// k nearest to an indexed item or a vector, everything within a distance,
// the records a filter selects (with an exact count), a filter combined
// with similarity, or images ranked by SIM_deg for a query by icons; the
// Answer says which index served it and how long it took, and pages
// through large answers with an opaque cursor.
//
// A Follower feeds a Library from the stream; Library.Snapshot writes it to
// disk with the stream sequence it holds, so that a restart loads the
// snapshot and replays only what came after.
//
// ServeNATS serves a library as a NATS micro service in a queue group, so
// that replicas share the queries; NATSClient asks it, trying again when
// no replica answers. A library larger than one machine splits by series
// into Shards (Config.Shard); a Fanout asks every shard and merges their
// answers as one library would give them.
package search
