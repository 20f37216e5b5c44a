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

// LoadStore reads into b the vectors Save wrote, for h's dimension and
// metric (see Load). Errors wrap index.ErrFormat.
func (b *Base) LoadStore(d *index.Decoder, h index.Header) error {
	s, err := Load(d, h.Dim, h.Metric)
	b.S = s
	return err
}
