package hnsw

import (
	"fmt"
	"io"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

// kindVersion is the version of the saved body Save writes.
const kindVersion = 1

// Save writes the index (index.Load reads it back) with the graph as it
// is, deleted nodes included, so that a loaded index answers every search
// as this one does. Searches and additions wait until it is done. The body
// of kind "hnsw", version 1:
//
//	M, efConstruction, ef                       uint32 each
//	seed                                        uint64
//	layer draws' state                          string (rand.PCG's MarshalBinary)
//	slots n, entry point (slot<<8 | layer)      uint64 each
//	state of each slot (0 free, 1 live, 2 deleted), its top layer   n bytes each
//	keys                                        n strings ("" unless live)
//	vectors                                     n·dim float32
//	layer-0 lists                               n·(2M+1) uint32: count, then ids
//	lists above layer 0, by slot, then layer    level·(M+1) uint32 per slot
//	metas                                       index.Encoder.Metas
func (x *Index) Save(w io.Writer) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := index.NewEncoder(w, index.Header{Kind: x.Kind(), KindVersion: kindVersion, Metric: x.metric, Dim: x.dim})
	for _, v := range []int{x.m, x.efc, x.Ef()} {
		e.Uint32(uint32(v))
	}
	e.Uint64(x.seed)
	rng, err := x.src.MarshalBinary()
	if err != nil {
		return fmt.Errorf("hnsw: saving the layer draws' state: %w", err)
	}
	e.String(string(rng))
	n := x.used
	e.Uint64(uint64(n))
	e.Uint64(x.entry.Load())
	e.Bytes(x.state[:n])
	levels := make([]byte, n)
	for s := range levels {
		levels[s] = byte(x.level(uint32(s)))
	}
	e.Bytes(levels)
	e.Strings(x.keys[:n])
	for s := range uint32(n) {
		e.Float32s(x.vec(s))
	}
	for s := range uint32(n) {
		e.Uint32s(x.list(s, 0))
	}
	for _, u := range x.upper[:n] {
		e.Uint32s(u)
	}
	e.Metas(x.meta[:n])
	return e.Close()
}

// load reads what Save wrote after the header, and checks it: every count
// within its list, every link to a slot that is not free and lives on the
// list's layer, keys unique and exactly on the live slots, the entry point
// on a used slot's top layer.
func load(h index.Header, d *index.Decoder) (index.Index, error) {
	if err := vecstore.CheckVersion(h, "hnsw", kindVersion); err != nil {
		return nil, err
	}
	m, efc, ef := int(d.Uint32()), int(d.Uint32()), int(d.Uint32())
	seed := d.Uint64()
	rng := d.String()
	n, entry := d.Uint64(), d.Uint64()
	if err := d.Err(); err != nil {
		return nil, err
	}
	x, err := New(h.Dim, h.Metric, Options{M: m, EfConstruction: efc, Ef: ef, Seed: seed})
	if err != nil || ef == 0 || efc == 0 || m == 0 {
		return nil, fmt.Errorf("%w: parameters M %d, efConstruction %d, ef %d", index.ErrFormat, m, efc, ef)
	}
	if err := x.src.UnmarshalBinary([]byte(rng)); err != nil {
		return nil, fmt.Errorf("%w: the layer draws' state: %v", index.ErrFormat, err)
	}
	if n > 1<<32-1 || n > 0 && h.Dim == 0 {
		return nil, fmt.Errorf("%w: %d slots of %d values", index.ErrFormat, n, h.Dim)
	}
	// what is read first proves the file holds n slots before room is
	// made for their vectors
	state, levels, keys := d.Bytes(int(n)), d.Bytes(int(n)), d.Strings(int(n))
	if err := d.Err(); err != nil {
		return nil, err
	}
	x.growTo(int(n))
	x.used = int(n)
	x.pos = make(map[string]uint32, n) // filled by check, without rehashing
	copy(x.state, state)
	copy(x.keys, keys)
	x.loadBlocks(d)
	for s, l := range levels {
		if l > maxLevel {
			d.Fail("slot %d is on layer %d, above %d", s, l, maxLevel)
		}
		if l > 0 && d.Err() == nil {
			x.upper[s] = d.Uint32s(int(l) * (x.m + 1))
		}
	}
	copy(x.meta, d.Metas(x.used))
	if err := d.Err(); err != nil {
		return nil, err
	}
	if err := x.check(entry); err != nil {
		return nil, fmt.Errorf("%w: %w", index.ErrFormat, err)
	}
	x.entry.Store(entry)
	return x, nil
}

// check checks a loaded graph and sets what follows from it: the key map,
// the free slots, the counts.
func (x *Index) check(entry uint64) error {
	for s := range uint32(x.used) {
		switch x.state[s] {
		case free:
			x.freed = append(x.freed, s)
		case live:
			if _, ok := x.pos[x.keys[s]]; ok {
				return fmt.Errorf("key %q is saved twice", x.keys[s])
			}
			if err := index.CheckAdd(x.keys[s], x.vec(s), x.dim, x.metric); err != nil {
				return fmt.Errorf("slot %d: %w", s, err)
			}
			x.pos[x.keys[s]] = s
			x.live.Add(1)
		case dead:
			x.dead++
		default:
			return fmt.Errorf("slot %d is in state %d", s, x.state[s])
		}
		if x.state[s] != live && x.keys[s] != "" {
			return fmt.Errorf("slot %d holds key %q but is not live", s, x.keys[s])
		}
		if err := x.checkLists(s); err != nil {
			return err
		}
	}
	if entry == noEntry {
		if x.live.Load()+int64(x.dead) > 0 {
			return fmt.Errorf("no entry point to %d nodes", x.live.Load()+int64(x.dead))
		}
		return nil
	}
	if s, l := unpack(entry); int(s) >= x.used || x.state[s] == free || x.level(s) != l {
		return fmt.Errorf("entry point slot %d on layer %d is not a node's top", s, l)
	}
	return nil
}

// checkLists checks slot s's lists on every layer.
func (x *Index) checkLists(s uint32) error {
	for l := range x.level(s) + 1 {
		lst := x.list(s, l)
		if lst[0] > uint32(len(lst)-1) || lst[0] > 0 && x.state[s] == free {
			return fmt.Errorf("slot %d's list on layer %d holds %d links", s, l, lst[0])
		}
		for _, id := range lst[1 : lst[0]+1] {
			if int(id) >= x.used || x.state[id] == free || x.level(id) < l {
				return fmt.Errorf("slot %d links to slot %d, not a node of layer %d", s, id, l)
			}
		}
	}
	return nil
}

// loadBlocks reads the vectors and the layer-0 lists into their blocks.
func (x *Index) loadBlocks(d *index.Decoder) {
	for s := range uint32(x.used) {
		d.ReadFloat32s(x.vec(s))
	}
	for s := range uint32(x.used) {
		d.ReadUint32s(x.list(s, 0))
	}
}
