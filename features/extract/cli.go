package extract

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/features/records"
)

// ImageJob is what `ctrecon features` does: the radiomics features of
// each object of a mask (or of the whole image) of one CT image, to a
// Parquet file and optionally a JSON file.
type ImageJob struct {
	Input    string // a folder of DICOM CT images, or a .mha volume
	Mask     string // .mha, .nii or .nii.gz on the image's grid; empty: the whole image
	Settings radiomics.Settings
	Parquet  string // the records' file
	JSON     string // if set, the features as a JSON array
}

// ImageSettings are an ImageJob's extraction settings, which its records'
// settings hash names: the radiomics settings and the mask's SHA-256.
type ImageSettings struct {
	Radiomics radiomics.Settings `json:"radiomics"`
	Mask      string             `json:"mask,omitempty"`
}

// Run checks everything that can be checked first (the settings, the
// output folders, the input, the mask's grid), then computes the features
// and writes the files, each through a temporary file renamed into place.
// Errors wrap ErrInput or radiomics.ErrInput and name the file or field.
func (j ImageJob) Run() ([]ObjectFeatures, error) {
	if err := j.Settings.Validate(); err != nil {
		return nil, err
	}
	for _, out := range []string{j.Parquet, j.JSON} {
		if out == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s: its folder does not exist", ErrInput, out)
		}
	}
	img, err := ReadImage(j.Input)
	if err != nil {
		return nil, err
	}
	seg, err := Objects(img, j.Mask)
	if err != nil {
		return nil, err
	}
	objs, err := Radiomics(img.Values, seg, img.padded, j.Settings)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.Input, err)
	}
	res, err := newResult(ImageSettings{Radiomics: j.Settings, Mask: seg.Settings.Mask})
	if err != nil {
		return nil, err
	}
	base := records.Record{ScanID: img.scanID(), StudyUID: img.StudyUID, SeriesUID: img.SeriesUID, Bin: img.Bin, Slice: -1}
	if err := res.addRadiomics(base, objs); err != nil {
		return nil, err
	}
	meta := records.Metadata{Settings: map[string]json.RawMessage{res.SettingsHash: res.Settings}, Names: res.Names[KindRadiomics]}
	if err := writeParquetFile(j.Parquet, meta, res.Records); err != nil {
		return nil, err
	}
	if j.JSON != "" {
		if err := writeJSON(j.JSON, objs, len(objs) > 1); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// jsonFeature is one element of the --json array.
type jsonFeature struct {
	Object      int64    `json:"object,omitempty"` // the mask's label, when it has several
	Tag         string   `json:"tag"`
	Code        string   `json:"ibsi_code"`
	Aggregation string   `json:"aggregation"`
	Value       *float64 `json:"value"` // null where IBSI leaves it undefined
}

// writeJSON writes every object's features as one JSON array.
func writeJSON(path string, objs []ObjectFeatures, labelled bool) error {
	var out []jsonFeature
	for _, o := range objs {
		for _, f := range o.Features {
			jf := jsonFeature{Tag: f.Tag, Code: f.Code, Aggregation: f.Aggregation}
			if labelled {
				jf.Object = o.Label
			}
			if v := f.Value; !math.IsNaN(v) && !math.IsInf(v, 0) {
				jf.Value = &v
			}
			out = append(out, jf)
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
