// Package vecstore holds what every approximate index of the index
// packages keeps per vector, so that each of them is only its structure:
// the vectors, keys and metas in numbered slots (Store), the shared
// bookkeeping of the Index interface (Base), and the collection of the
// nearest or in-range vectors among the candidates a structure offers
// (Results).
package vecstore

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ctrecon/ctrecon/index"
)

// Store keeps vectors of one dimension in numbered slots, each with a key
// and a meta. A structure refers to vectors by slot; a deleted vector's
// slot is reused by a later Put. A Store is not safe for concurrent use:
// Base's lock guards it.
type Store struct {
	dim   int
	data  []float32 // slot i at data[i*dim : (i+1)*dim]
	keys  []string  // "" for a free slot
	metas []any
	pos   map[string]uint32
	free  []uint32
}

// Dim returns the length of the vectors, 0 before the first Put.
func (s *Store) Dim() int { return s.dim }

// Len returns the number of vectors stored.
func (s *Store) Len() int { return len(s.pos) }

// Slots returns the number of slots, free ones included: every slot is
// below it.
func (s *Store) Slots() int { return len(s.keys) }

// Slot returns the slot of key.
func (s *Store) Slot(key string) (uint32, bool) {
	i, ok := s.pos[key]
	return i, ok
}

// Vec returns the vector in slot i (not a copy).
func (s *Store) Vec(i uint32) []float32 { return s.data[int(i)*s.dim : (int(i)+1)*s.dim] }

// Key returns the key in slot i, "" when the slot is free.
func (s *Store) Key(i uint32) string { return s.keys[i] }

// Meta returns the meta in slot i.
func (s *Store) Meta(i uint32) any { return s.metas[i] }

// Live reports whether slot i holds a vector.
func (s *Store) Live(i uint32) bool { return int(i) < len(s.keys) && s.keys[i] != "" }

// put stores a copy of v under key, which must not be stored, and returns
// its slot.
func (s *Store) put(key string, v []float32, meta any) uint32 {
	s.dim = len(v)
	if s.pos == nil {
		s.pos = map[string]uint32{}
	}
	var i uint32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
		copy(s.Vec(i), v)
		s.keys[i], s.metas[i] = key, meta
	} else {
		i = uint32(len(s.keys))
		s.data = append(s.data, v...)
		s.keys = append(s.keys, key)
		s.metas = append(s.metas, meta)
	}
	s.pos[key] = i
	return i
}

// remove frees slot i.
func (s *Store) remove(i uint32) {
	delete(s.pos, s.keys[i])
	s.keys[i], s.metas[i] = "", nil
	clear(s.Vec(i))
	s.free = append(s.free, i)
}

// Save writes the store: the number of slots S (uint64), their S keys
// (strings, "" for a free slot), S·dim values (float32, 0 in a free slot)
// and S metas (index.Encoder.Metas).
func (s *Store) Save(e *index.Encoder) {
	e.Uint64(uint64(len(s.keys)))
	e.Strings(s.keys)
	e.Float32s(s.data)
	e.Metas(s.metas)
}

// Load reads a store Save wrote for vectors of dim values under m, and
// checks every vector as Add would. Errors wrap index.ErrFormat.
func Load(d *index.Decoder, dim int, m index.Metric) (Store, error) {
	n := d.Uint64()
	if n > 1<<32 || n > 0 && dim == 0 {
		d.Fail("%d slots of %d values", n, dim)
	}
	s := Store{dim: dim, keys: d.Strings(int(n))}
	s.data = d.Float32s(int(n) * dim)
	s.metas = d.Metas(int(n))
	if err := d.Err(); err != nil {
		return Store{}, err
	}
	s.pos = make(map[string]uint32, n)
	for i, k := range s.keys {
		if k == "" {
			s.free = append(s.free, uint32(i))
			continue
		}
		if err := index.CheckAdd(k, s.Vec(uint32(i)), dim, m); err != nil {
			return Store{}, fmt.Errorf("%w: slot %d: %w", index.ErrFormat, i, err)
		}
		if _, ok := s.pos[k]; ok {
			return Store{}, fmt.Errorf("%w: key %q is saved twice", index.ErrFormat, k)
		}
		s.pos[k] = uint32(i)
	}
	return s, nil
}

// LoadSlots reads n slot numbers (uint32), failing d when one is not a
// live slot of s: what a structure's Load checks its references with.
func (s *Store) LoadSlots(d *index.Decoder, n int) []uint32 {
	v := d.Uint32s(n)
	if i := slices.IndexFunc(v, func(i uint32) bool { return !s.Live(i) }); i >= 0 {
		d.Fail("slot %d is not a stored vector", v[i])
		return nil
	}
	return v
}

// Base is the part of an index the Index interface's bookkeeping needs:
// its lock, metric and Store. An index holds one and embeds its Basics,
// which answer index.Index but for Kind and Save through the structure's
// insert, remove and collect.
type Base struct {
	Mu sync.RWMutex
	M  index.Metric
	S  Store
}

// NewBase returns the base of an empty index of vectors of dim values (0:
// set by the first Put) under m.
func NewBase(dim int, m index.Metric) Base {
	return Base{M: m, S: Store{dim: max(dim, 0)}}
}

// Basics are the methods of index.Index that every structure answers
// alike: Metric, Dim, Len and Get read the Base; Add and Delete call Put
// and Drop with the structure's insert and remove; Search and Range call
// the Base's with its collect.
type Basics struct {
	b              *Base
	insert, remove func(slot uint32)
	collect        func(*Results)
}

// Basics returns b's Basics for an index to embed: insert takes a new
// slot into the structure, remove takes one out before it is freed, and
// collect offers a search the slots the structure finds for its query.
func (b *Base) Basics(insert, remove func(slot uint32), collect func(*Results)) Basics {
	return Basics{b: b, insert: insert, remove: remove, collect: collect}
}

// Metric returns the index's metric.
func (x Basics) Metric() index.Metric { return x.b.M }

// Dim returns the length of the vectors, 0 before the first Add of an
// index made without one; it does not change afterwards.
func (x Basics) Dim() int {
	x.b.Mu.RLock()
	defer x.b.Mu.RUnlock()
	return x.b.S.dim
}

// Len returns the number of vectors.
func (x Basics) Len() int {
	x.b.Mu.RLock()
	defer x.b.Mu.RUnlock()
	return x.b.S.Len()
}

// Get returns a copy of the vector stored under key and its meta.
func (x Basics) Get(key string) ([]float32, any, bool) {
	x.b.Mu.RLock()
	defer x.b.Mu.RUnlock()
	i, ok := x.b.S.pos[key]
	if !ok {
		return nil, nil, false
	}
	return slices.Clone(x.b.S.Vec(i)), x.b.S.metas[i], true
}

// Add stores a copy of v with meta under key, replacing what the key held
// (see index.Index).
func (x Basics) Add(key string, v []float32, meta any) error {
	return x.b.Put(key, v, meta, x.insert, x.remove)
}

// Delete removes key and reports whether it was there.
func (x Basics) Delete(key string) bool { return x.b.Drop(key, x.remove) }

// Search returns the k nearest vectors to q that filter accepts among
// those the structure offers, nearest first, equal distances by key (see
// index.Index).
func (x Basics) Search(q []float32, k int, filter index.Filter) []index.Hit {
	return x.b.Search(q, k, filter, x.collect)
}

// Range returns the vectors within radius of q that filter accepts among
// those the structure offers, nearest first.
func (x Basics) Range(q []float32, radius float64, filter index.Filter) []index.Hit {
	return x.b.Range(q, radius, filter, x.collect)
}

// Put stores a copy of v with meta under key as index.Index's Add does,
// with b locked for writing: it checks the vector (index.CheckAdd), takes
// a replaced vector out of the structure with remove before freeing its
// slot, and hands the new slot to insert.
func (b *Base) Put(key string, v []float32, meta any, insert, remove func(slot uint32)) error {
	b.Mu.Lock()
	defer b.Mu.Unlock()
	if err := index.CheckAdd(key, v, b.S.dim, b.M); err != nil {
		return err
	}
	if i, ok := b.S.pos[key]; ok {
		remove(i)
		b.S.remove(i)
	}
	insert(b.S.put(key, v, meta))
	return nil
}

// Drop removes key as index.Index's Delete does, with b locked for
// writing: remove takes its slot out of the structure before the slot is
// freed.
func (b *Base) Drop(key string, remove func(slot uint32)) bool {
	b.Mu.Lock()
	defer b.Mu.Unlock()
	i, ok := b.S.pos[key]
	if ok {
		remove(i)
		b.S.remove(i)
	}
	return ok
}

// Query reports whether q may be searched (index.CheckQuery) in a
// non-empty index. The caller holds b's lock.
func (b *Base) Query(q []float32) bool { return b.S.Len() > 0 && index.CheckQuery(q, b.S.dim, b.M) }

// Search answers index.Index's Search with b locked for reading: nothing
// for k < 1 or a query Query refuses, else the k nearest that filter
// accepts among the slots collect offers.
func (b *Base) Search(q []float32, k int, filter index.Filter, collect func(*Results)) []index.Hit {
	if k < 1 {
		return nil
	}
	b.Mu.RLock()
	defer b.Mu.RUnlock()
	if !b.Query(q) {
		return nil
	}
	r := NewKNN(&b.S, b.M, q, k, filter)
	collect(r)
	return r.Hits()
}

// Range answers index.Index's Range with b locked for reading: nothing for
// a radius that is negative or NaN or a query Query refuses, else those
// within radius that filter accepts among the slots collect offers.
func (b *Base) Range(q []float32, radius float64, filter index.Filter, collect func(*Results)) []index.Hit {
	b.Mu.RLock()
	defer b.Mu.RUnlock()
	if !b.Query(q) || !(radius >= 0) {
		return nil
	}
	r := NewRange(&b.S, b.M, q, radius, filter)
	collect(r)
	return r.Hits()
}
