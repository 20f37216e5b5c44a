package vecstore

import (
	"fmt"

	"github.com/ctrecon/ctrecon/index"
)

// Lists partitions slots into numbered lists (an inverted file's lists, a
// tree's leaves), each slot in at most one, with constant-time removal.
type Lists struct {
	L     [][]uint32 // the slots of each list, in no particular order
	where []int32    // by slot: its list, -1 for none
	at    []int32    // by slot: its position in its list
}

// New appends an empty list and returns its number.
func (l *Lists) New() int {
	l.L = append(l.L, nil)
	return len(l.L) - 1
}

// Add puts slot i, which is in no list, into list j.
func (l *Lists) Add(j int, i uint32) {
	for int(i) >= len(l.where) {
		l.where = append(l.where, -1)
		l.at = append(l.at, -1)
	}
	l.where[i], l.at[i] = int32(j), int32(len(l.L[j]))
	l.L[j] = append(l.L[j], i)
}

// Of returns the list of slot i, -1 for none.
func (l *Lists) Of(i uint32) int {
	if int(i) >= len(l.where) {
		return -1
	}
	return int(l.where[i])
}

// Remove takes slot i out of its list (the last of the list takes its
// place) and returns the list's number, -1 when it was in none.
func (l *Lists) Remove(i uint32) int {
	j := l.Of(i)
	if j < 0 {
		return -1
	}
	s, p := l.L[j], l.at[i]
	last := s[len(s)-1]
	s[p], l.at[last] = last, p
	l.L[j] = s[:len(s)-1]
	l.where[i], l.at[i] = -1, -1
	return j
}

// Take empties list j and returns what it held.
func (l *Lists) Take(j int) []uint32 {
	s := l.L[j]
	for _, i := range s {
		l.where[i], l.at[i] = -1, -1
	}
	l.L[j] = nil
	return s
}

// Save writes the number of lists (uint64), then each list's length
// (uint64) and slots (uint32).
func (l *Lists) Save(e *index.Encoder) {
	e.Uint64(uint64(len(l.L)))
	for _, s := range l.L {
		e.Uint64(uint64(len(s)))
		e.Uint32s(s)
	}
}

// LoadLists reads lists Save wrote over the slots of s, failing d for a
// slot that is not stored or is in two lists.
func LoadLists(d *index.Decoder, s *Store) Lists {
	var l Lists
	n := d.Uint64()
	if n > uint64(s.Slots())+1<<20 {
		d.Fail("%d lists for %d slots", n, s.Slots())
	}
	for range int(n) {
		size := d.Uint64()
		if size > uint64(s.Slots()) {
			d.Fail("a list of %d slots of %d", size, s.Slots())
		}
		slots := s.LoadSlots(d, int(size))
		if d.Err() != nil {
			return Lists{}
		}
		j := l.New()
		for _, i := range slots {
			if l.Of(i) >= 0 {
				d.Fail("slot %d is in two lists", i)
				return Lists{}
			}
			l.Add(j, i)
		}
	}
	return l
}

// Covers returns an error wrapping index.ErrFormat when a vector stored in
// s is in no list: what a loaded structure checks last.
func (l *Lists) Covers(s *Store) error {
	for i := range uint32(s.Slots()) {
		if s.Live(i) && l.Of(i) < 0 {
			return fmt.Errorf("%w: vector %q is in no list", index.ErrFormat, s.Key(i))
		}
	}
	return nil
}
