package vecstore

// Queue is a priority queue of values by key, least first: the frontier of
// a best-first search.
type Queue[T any] struct{ h []queued[T] }

type queued[T any] struct {
	key float64
	v   T
}

// Len returns the number of values queued.
func (q *Queue[T]) Len() int { return len(q.h) }

// Push queues v under key.
func (q *Queue[T]) Push(key float64, v T) {
	q.h = append(q.h, queued[T]{key, v})
	for j := len(q.h) - 1; j > 0; {
		p := (j - 1) / 2
		if q.h[p].key <= q.h[j].key {
			break
		}
		q.h[p], q.h[j] = q.h[j], q.h[p]
		j = p
	}
}

// Peek returns the least key; the queue must not be empty.
func (q *Queue[T]) Peek() float64 { return q.h[0].key }

// Pop removes and returns the value of least key and its key; the queue
// must not be empty.
func (q *Queue[T]) Pop() (float64, T) {
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h = q.h[:last]
	for j := 0; ; {
		c := 2*j + 1
		if c >= last {
			break
		}
		if c+1 < last && q.h[c+1].key < q.h[c].key {
			c++
		}
		if q.h[j].key <= q.h[c].key {
			break
		}
		q.h[j], q.h[c] = q.h[c], q.h[j]
		j = c
	}
	return top.key, top.v
}
