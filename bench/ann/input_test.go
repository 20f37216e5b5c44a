package ann

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"
)

// gzipped returns content gzip-compressed.
func gzipped(t *testing.T, content string) string {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	if _, err := gz.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReadFileByContent: a gzip-compressed CSV is read whatever its name
// (named .csv it was refused with csv's `bare " in non-quoted-field`);
// extensions match in any case (.FVECS and .CSV.GZ were unknown types); a
// file named .parquet that is not one says so (it got the Parquet
// reader's "file is smaller than indicated metadata size"); a .gz file
// that is not compressed says so; and a cut-short or corrupt gzip stream
// names the file and the row it reached (it was a bare "unexpected EOF").
func TestReadFileByContent(t *testing.T) {
	var csv strings.Builder
	for i := range 2000 {
		csv.WriteString(strings.Repeat("1.5,", 7) + string(rune('0'+i%10)) + "\n")
	}
	want, err := ReadFile(writeFile(t, "v.csv", csv.String()))
	if err != nil || want.Len() != 2000 {
		t.Fatalf("plain CSV: %v", err)
	}
	gz := gzipped(t, csv.String())
	fvecs := writeFile(t, "v.fvecs", "")
	if err := want.WriteFvecs(fvecs); err != nil {
		t.Fatal(err)
	}
	fv, _ := ReadFile(fvecs)
	for name, content := range map[string]string{"gz.csv": gz, "V.CSV.GZ": gz, "V.Csv": csv.String()} {
		got, err := ReadFile(writeFile(t, name, content))
		if err != nil || got.Dim != 8 || !slices.Equal(got.Data, want.Data) {
			t.Errorf("%s: %v, want the 2000 vectors of 8 of the CSV", name, err)
		}
	}
	upper := writeFile(t, "V.FVECS", "")
	if err := want.WriteFvecs(upper); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(upper); err != nil || !slices.Equal(got.Data, fv.Data) {
		t.Errorf("V.FVECS: %v", err)
	}

	cut := gz[:len(gz)/2]
	corrupt := []byte(gz)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC-32
	for name, c := range map[string]struct{ content, says string }{
		"csv.parquet":  {csv.String(), "csv.parquet: not a Parquet file (it does not begin and end with PAR1)"},
		"gz.parquet":   {gz, "gz.parquet is gzip-compressed: decompress it"},
		"plain.csv.gz": {csv.String(), "plain.csv.gz is not gzip-compressed (it does not begin as gzip does): name it without .gz"},
		"cut.csv.gz":   {cut, "cut.csv.gz: row "},
		"cut.fvecs.gz": {gzipped(t, "\x08\x00\x00\x00\x00\x00"), "cut.fvecs.gz: row 1: the file ends inside the vector: is it cut short?"},
		"crc.csv.gz":   {string(corrupt), "crc.csv.gz: row 2001: gzip: invalid checksum"},
	} {
		_, err := ReadFile(writeFile(t, name, c.content))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
	_, err = ReadFile(writeFile(t, "cut.csv.gz", cut))
	if err == nil || !strings.Contains(err.Error(), "is it cut short?") || strings.HasSuffix(err.Error(), "row 1: unexpected EOF") {
		t.Errorf("cut.csv.gz: %v, want the row reached and whether it is cut short", err)
	}
}

// TestHoldOutTooFew: too few vectors to hold queries out says how many
// there are, in the singular for one, and how many are needed; before,
// "1 vectors: too few".
func TestHoldOutTooFew(t *testing.T) {
	for _, c := range []struct {
		n        int
		fraction float64
		says     string
	}{
		{1, 0.1, "one: 1 vector: too few to hold 10% out as queries and index the rest (want at least 2)"},
		{2, 0.9, "one: 2 vectors: too few to hold 90% out as queries and index the rest (want at least 6)"},
		{5, 1, "want a fraction below 1"},
	} {
		s := &Set{Name: "one", Dim: 1, Data: make([]float32, c.n)}
		if _, _, err := HoldOut(s, c.fraction, 1); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%d vectors, %v: %v, want %q", c.n, c.fraction, err, c.says)
		}
	}
	// 6 vectors do hold 90 % out: round(5.4) = 5 queries, 1 left
	if b, q, err := HoldOut(&Set{Name: "six", Dim: 1, Data: make([]float32, 6)}, 0.9, 1); err != nil || b.Len() != 1 || q.Len() != 5 {
		t.Errorf("6 vectors, 90 %%: %v", err)
	}
}

// TestInputsQueryLabels: with a file of queries, Labels and QueryLabels
// label the vectors and the queries (before, labels were refused with
// queries); one without the other, a count that does not match and a
// label column missing from the queries are errors naming the files.
func TestInputsQueryLabels(t *testing.T) {
	vectors := writeFile(t, "v.csv", "1,2\n3,4\n5,6\n")
	queries := writeFile(t, "q.csv", "1,2\n5,6\n")
	vl := writeFile(t, "vl.txt", "a\nb\nc\n")
	ql := writeFile(t, "ql.txt", "a\nc\n")
	base, q, _, err := Inputs{Vectors: vectors, Queries: queries, Labels: vl, QueryLabels: ql}.Read()
	if err != nil || !slices.Equal(base.Labels, []string{"a", "b", "c"}) || !slices.Equal(q.Labels, []string{"a", "c"}) {
		t.Fatalf("labels and query labels: %v", err)
	}
	withLabel := writeFile(t, "vlab.csv", "1,2,7\n3,4,8\n")
	for _, c := range []struct {
		in   Inputs
		says string
	}{
		{Inputs{Vectors: vectors, Queries: queries, Labels: vl}, "labels " + vl + " are for the vectors of " + vectors + ": the queries of " + queries + " need theirs too (query labels)"},
		{Inputs{Vectors: vectors, Queries: queries, QueryLabels: ql}, "query labels " + ql + " are for the queries of " + queries + ": the vectors of " + vectors + " need theirs too"},
		{Inputs{Vectors: vectors, QueryLabels: ql, Labels: vl}, "query labels " + ql + ": there is no file of queries"},
		{Inputs{Vectors: vectors, Queries: queries, Labels: vl, QueryLabels: vl}, "vl.txt: 3 labels for the 2 vectors of q.csv"},
		{Inputs{Vectors: withLabel, Queries: queries, LabelColumn: -1}, "q.csv has 2 columns where vlab.csv has 3 (2 values and the label, in the last column): dimension mismatch; the label column seems to be missing from q.csv"},
		{Inputs{Vectors: queries, Queries: withLabel, LabelColumn: 2}, "vlab.csv has 3 columns where q.csv has 2 (1 value and the label, in column 2): dimension mismatch; the label column seems to be missing from q.csv"},
	} {
		c.in.HoldOut = 0.1
		if _, _, _, err := c.in.Read(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want an error saying %q", c.in, err, c.says)
		}
	}
	if _, _, m, err := (Inputs{Vectors: vectors, Metric: "L1", HoldOut: 0.4}).Read(); err != nil || m.Name() != "manhattan" {
		t.Errorf("metric L1: %v, %v", m.Name(), err)
	}
}
