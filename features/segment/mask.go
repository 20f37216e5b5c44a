package segment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/nifti"
)

// maskFormat is a label image format: how to read it and what its header
// calls the grid's dimensions, spacing and origin.
type maskFormat struct {
	read                   func(path string) (fdk.Grid, []int32, error)
	dim, spacing, position string
}

var (
	mhaMask   = maskFormat{metaimage.ReadLabels, "DimSize", "ElementSpacing", "Offset"}
	niftiMask = maskFormat{nifti.ReadLabels, "dim", "pixdim (or the sform's diagonal)", "qoffset (or the sform's last column)"}
)

// FromMask reads the label image at path, MetaImage (.mha, any integer
// element type) or NIfTI-1 (.nii, .nii.gz, any integer datatype), and
// makes each label other than 0 an object, in increasing order of label.
// The mask must lie on grid, the volumes' grid: the same dimensions, and
// spacing and origin within a thousandth of a voxel (NIfTI holds them as
// float32). Objects of a mask have no class. Errors wrap ErrInput where
// the file is at fault, and name the file and the header field.
func FromMask(path string, grid fdk.Grid) (*Segmentation, error) {
	format, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	hash, err := fileHash(path)
	if err != nil {
		return nil, err
	}
	g, labels, err := format.read(path)
	if err != nil {
		return nil, fmt.Errorf("%w: mask: %w", ErrInput, err)
	}
	if err := format.match(path, g, grid); err != nil {
		return nil, err
	}
	values := distinctLabels(labels)
	index := make(map[int32]int32, len(values))
	for i, v := range values {
		index[v] = int32(i + 1)
	}
	m := make([]int32, len(labels))
	for i, v := range labels {
		if v != 0 {
			m[i] = index[v]
		}
	}
	seg := &Segmentation{Grid: grid, Settings: Settings{Mask: hash}, Source: path, Map: m, Objects: measure(grid, m, len(values))}
	for i, v := range values {
		seg.Objects[i].Label = int64(v)
	}
	return seg, nil
}

// formatOf chooses the reader by the file's extension.
func formatOf(path string) (maskFormat, error) {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".mha"):
		return mhaMask, nil
	case strings.HasSuffix(lower, ".nii"), strings.HasSuffix(lower, ".nii.gz"):
		return niftiMask, nil
	}
	return maskFormat{}, fmt.Errorf("%w: mask %s: not .mha, .nii or .nii.gz", ErrInput, path)
}

// match reports, naming the file and the header field, how the mask's grid
// g differs from the volumes' grid want.
func (f maskFormat) match(path string, g, want fdk.Grid) error {
	if g.Dim != want.Dim {
		return fmt.Errorf("%w: mask %s: %s %v, but the volumes are %v", ErrInput, path, f.dim, g.Dim, want.Dim)
	}
	for k := range 3 {
		tol := 1e-3 * want.Spacing[k]
		if !(math.Abs(g.Spacing[k]-want.Spacing[k]) <= tol) {
			return fmt.Errorf("%w: mask %s: %s %v mm, but the volumes' voxels are %v mm", ErrInput, path, f.spacing, g.Spacing, want.Spacing)
		}
		if !(math.Abs(g.Origin[k]-want.Origin[k]) <= tol) {
			return fmt.Errorf("%w: mask %s: %s puts the first voxel at %v mm, the volumes' is at %v mm", ErrInput, path, f.position, g.Origin, want.Origin)
		}
	}
	return nil
}

// distinctLabels returns the labels other than 0 that occur, in
// increasing order.
func distinctLabels(labels []int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, v := range labels {
		if v != 0 && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// fileHash returns the SHA-256 of the file at path, hex.
func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("mask: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("mask %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
