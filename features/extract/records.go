package extract

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
)

// KindRadiomics is the kind of radiomics records: one per object, its
// values the features in the order of Result.Names[KindRadiomics].
const KindRadiomics = "radiomics-v1"

// IDs name what a set of records describes.
type IDs struct {
	ScanID, JobID string
	// Patient is the patient's pseudonym (records.Pseudonymise), or empty.
	Patient  string
	StudyUID string
}

// Result is the records of one extraction and what their Parquet files say.
type Result struct {
	Records []records.Record
	// Settings is the extraction's settings as JSON; SettingsHash its hash,
	// every record's Settings.
	Settings     json.RawMessage
	SettingsHash string
	// Names names each kind's vector components, where they have names.
	Names map[string][]string
	// Segmentation is the objects Scan found (nil from other extractions),
	// for callers that measure more of the same objects.
	Segmentation *segment.Segmentation
}

// newResult starts a Result for an extraction with settings s.
func newResult(s any) (*Result, error) {
	hash, js, err := records.HashSettings(s)
	if err != nil {
		return nil, err
	}
	return &Result{Settings: js, SettingsHash: hash, Names: map[string][]string{}}, nil
}

// add appends a record of kind (with its version, "hist-hu-v1") whose
// identifiers come from base, with values and data (JSON of data, when not
// nil).
func (r *Result) add(base records.Record, kindVersion string, values []float32, data any) error {
	kind, version, err := records.SplitKind(kindVersion)
	if err != nil {
		return err
	}
	base.Kind, base.Version, base.Settings, base.Values = kind, version, r.SettingsHash, values
	if data != nil {
		if base.Data, err = json.Marshal(data); err != nil {
			return fmt.Errorf("%s: %w", kindVersion, err)
		}
	}
	r.Records = append(r.Records, base)
	return nil
}

// addRadiomics appends one radiomics record per object; every object's
// features must be the same list (they are, for one Settings).
func (r *Result) addRadiomics(base records.Record, objs []ObjectFeatures) error {
	for _, o := range objs {
		names := make([]string, len(o.Features))
		values := make([]float64, len(o.Features))
		for i, f := range o.Features {
			names[i], values[i] = featureName(f), f.Value
		}
		if have, ok := r.Names[KindRadiomics]; ok && !slices.Equal(have, names) {
			return fmt.Errorf("object %d: features differ from another object's", o.Label)
		}
		r.Names[KindRadiomics] = names
		rec := base
		rec.Object, rec.Class = o.Label, string(o.Class)
		if err := r.add(rec, KindRadiomics, float32s(values...), nil); err != nil {
			return err
		}
	}
	return nil
}

// RadiomicsNames returns the names of the values of the radiomics records
// (KindRadiomics) extracted with s, in their order: what the records
// themselves do not carry (a record on the bus has values only), for a
// reader that follows the bus to name them. The names depend on s's
// families and aggregations only; they are read off the features of a
// small probe cube.
func RadiomicsNames(s radiomics.Settings) ([]string, error) {
	const n = 6
	g := radiomics.Grid{Size: [3]int{n, n, n}, Spacing: [3]float64{RadiomicsVoxelMM, RadiomicsVoxelMM, RadiomicsVoxelMM}}
	img := &radiomics.Image{Grid: g, Data: make([]float64, g.Voxels())}
	mask := &radiomics.Mask{Grid: g, Data: make([]bool, g.Voxels())}
	for i := range img.Data {
		x, y, z := i%n, i/n%n, i/(n*n)
		img.Data[i] = float64(10*x + 3*y + z)
		mask.Data[i] = x > 0 && y > 0 && z > 0 && x < n-1 && y < n-1 && z < n-1
	}
	feats, err := radiomics.Compute(img, mask, s)
	if err != nil {
		return nil, fmt.Errorf("radiomics names: %w", err)
	}
	names := make([]string, len(feats))
	for i, f := range feats {
		names[i] = featureName(f)
	}
	return names, nil
}

// featureName names a radiomics feature in a record's names: its IBSI
// tag, with "|" and its aggregation when it has one ("cm.joint_max|3D,
// averaged").
func featureName(f radiomics.Feature) string {
	if f.Aggregation == "" {
		return f.Tag
	}
	return f.Tag + "|" + f.Aggregation
}

// WriteParquet writes one Parquet file per kind into dir, named
// KIND-vVERSION.parquet, and returns their paths.
func (r *Result) WriteParquet(dir string) ([]string, error) {
	byKind := map[string][]records.Record{}
	var kinds []string
	for _, rec := range r.Records {
		k := rec.KindVersion()
		if _, ok := byKind[k]; !ok {
			kinds = append(kinds, k)
		}
		byKind[k] = append(byKind[k], rec)
	}
	var paths []string
	for _, k := range kinds {
		meta := records.Metadata{Settings: map[string]json.RawMessage{r.SettingsHash: r.Settings}, Names: r.Names[k]}
		path := filepath.Join(dir, k+".parquet")
		if err := writeParquetFile(path, meta, byKind[k]); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// writeParquetFile writes a Parquet file next to path and renames it into
// place, so that no reader sees half a file. The file is mode 0644, as
// the JSON and DICOM outputs are (CreateTemp makes 0600).
func writeParquetFile(path string, meta records.Metadata, recs []records.Record) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	err = f.Chmod(0o644)
	if err == nil {
		err = records.WriteParquet(struct{ io.Writer }{f}, meta, recs) // the writer would close f
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// float32s converts values to float32, NaN kept. A value float32 cannot
// hold (±Inf, or beyond ±3.4e38) is NaN, undefined: a record refuses an
// infinity, and one object's value must not fail the job's records.
func float32s(values ...float64) []float32 {
	out := make([]float32, len(values))
	for i, v := range values {
		out[i] = float32(v)
		if math.IsInf(float64(out[i]), 0) {
			out[i] = float32(math.NaN())
		}
	}
	return out
}
