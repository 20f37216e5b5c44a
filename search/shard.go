package search

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// MaxShards is the most shards a library splits into.
const MaxShards = 1024

// Shard is one part of a library split by series, for a library larger
// than one machine's memory: shard Index of Count keeps the records of
// the series whose UID hashes into its range (ShardOf), so that every
// slice and object of a series lands in the same shard. The zero Shard
// is the whole library.
type Shard struct {
	Index, Count int
}

// ParseShard reads "I/N", shard I (0 to N−1) of N (1 to MaxShards).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	si, err1 := strconv.Atoi(i)
	sn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N, e.g. 0/2 for the first of two", s)
	}
	sh := Shard{Index: si, Count: sn}
	if sn == 0 {
		sh.Count = -1 // not the whole library: a count to refuse
	}
	if sh.check() != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N with N from 1 to %d and I from 0 to N-1", s, MaxShards)
	}
	return sh, nil
}

// check says whether the shard is the whole library or one of at most
// MaxShards.
func (s Shard) check() error {
	if s == (Shard{}) {
		return nil
	}
	if s.Count < 1 || s.Count > MaxShards || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard %d/%d: want I/N with N from 1 to %d and I from 0 to N-1", s.Index, s.Count, MaxShards)
	}
	return nil
}

// String writes "I/N", or "" for the whole library.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// partName names a library by its shard's String: "shard I/N", or "the
// whole library".
func partName(shard string) string {
	if shard == "" {
		return "the whole library"
	}
	return "shard " + shard
}

// Owns reports whether the shard keeps the records of series.
func (s Shard) Owns(seriesUID string) bool {
	return s.Count <= 1 || ShardOf(seriesUID, s.Count) == s.Index
}

// ShardOf returns the shard of n that owns series: the hash of its UID
// (the first 8 bytes of its SHA-256, big-endian) scaled to [0, n), so
// shard i owns the hashes from i·2⁶⁴/n up to (i+1)·2⁶⁴/n. (FNV-1a's high
// bits barely move when only a UID's last digit does, as in a study's
// series.)
func ShardOf(seriesUID string, n int) int {
	sum := sha256.Sum256([]byte(seriesUID))
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(sum[:8]), uint64(n))
	return int(hi)
}

// Shard subjects: shard I of N answers ctrecon.search.shard.N.I.query
// (a Query, its shard's Answer), .kinds and .vector (a likeRequest, its
// likeVector), in QueueGroup, so that replicas of a shard share them.
const subjectShard = "ctrecon.search.shard.%d.%d.%s"

func (s Shard) subject(endpoint string) string {
	return fmt.Sprintf(subjectShard, s.Count, s.Index, endpoint)
}

// likeRequest asks a shard for the vector of an item it holds.
type likeRequest struct {
	Kind string `json:"kind"`
	Like string `json:"like"`
}

// likeVector is a shard's answer to a likeRequest: the item's key, its
// bin filled in (see Library.likeVector), and its vector as a query gives
// it (queryValues).
type likeVector struct {
	Key    string    `json:"key"`
	Vector []float32 `json:"vector"`
}

// vectorOf answers a likeRequest from the shard's own records.
func (l *Library) vectorOf(ctx context.Context, r likeRequest) (*likeVector, error) {
	vk, err := l.vectorKind(r.Kind)
	if err != nil {
		return nil, err
	}
	key, vec, err := l.likeVector(ctx, vk, r.Kind, r.Like)
	if err != nil {
		return nil, err
	}
	return &likeVector{Key: key, Vector: queryValues(r.Kind, vec)}, nil
}
