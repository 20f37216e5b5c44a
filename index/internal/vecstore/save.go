package vecstore

import (
	"fmt"
	"io"

	"github.com/ctrecon/ctrecon/index"
)

// Save writes an index of kind kind whose body is version version (see
// index.Load), with b locked for reading: the header (b's metric and
// dimension), what config writes (the index's parameters), the vectors
// (Store.Save), then what structure writes. It returns the encoder's
// error.
func (b *Base) Save(w io.Writer, kind string, version int, config, structure func(*index.Encoder)) error {
	b.Mu.RLock()
	defer b.Mu.RUnlock()
	e := index.NewEncoder(w, index.Header{Kind: kind, KindVersion: version, Metric: b.M, Dim: b.S.Dim()})
	config(e)
	b.S.Save(e)
	structure(e)
	return e.Close()
}

// CheckVersion returns an error wrapping index.ErrFormat unless h's body
// is version version, the one this program reads for kind.
func CheckVersion(h index.Header, kind string, version int) error {
	if h.KindVersion != version {
		return fmt.Errorf("%w: %s index version %d, this program reads %d", index.ErrFormat, kind, h.KindVersion, version)
	}
	return nil
}

// Load reads what Save wrote after the configuration: the vectors, for
// h's dimension and metric, into b (see Load), then the structure with
// structure. It returns the first error, wrapping index.ErrFormat; the
// caller then checks the structure as a whole.
func (b *Base) Load(d *index.Decoder, h index.Header, structure func(*index.Decoder)) error {
	s, err := Load(d, h.Dim, h.Metric)
	if err != nil {
		return err
	}
	b.S = s
	structure(d)
	return d.Err()
}
