package vecstore

import "github.com/ctrecon/ctrecon/index"

// SaveChildren writes the children of a tree's node: their number and
// their node ids (uint32 each).
func SaveChildren(e *index.Encoder, children []int32) {
	e.Uint32(uint32(len(children)))
	for _, c := range children {
		e.Uint32(uint32(c))
	}
}

// LoadNodes reads the nodes of a tree: their number n (uint32), from 1 to
// most, then each with node, which reads node j of n. It returns nil at
// d's first error, failing d for an n out of range (slots: the store's, to
// name in the error).
func LoadNodes[N any](d *index.Decoder, most, slots int, node func(nd *N, j, n int)) []N {
	n := int(d.Uint32())
	if n < 1 || n > most {
		d.Fail("%d nodes for %d slots", n, slots)
		return nil
	}
	nodes := make([]N, n)
	for j := range nodes {
		node(&nodes[j], j, n)
		if d.Err() != nil {
			return nil
		}
	}
	return nodes
}

// LoadChildren reads what SaveChildren wrote for node j of a tree of n
// nodes, failing d when it has more than n children; the ids themselves
// are the caller's to check.
func LoadChildren(d *index.Decoder, j, n int) []int32 {
	nc := int(d.Uint32())
	if nc > n {
		d.Fail("node %d has %d children of %d nodes", j, nc, n)
		return nil
	}
	var children []int32
	for range nc {
		children = append(children, int32(d.Uint32()))
	}
	return children
}
