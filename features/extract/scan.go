package extract

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/features/spectral"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// ScanSettings are every extractor's settings for a reconstructed scan.
// Their hash is every record's settings hash.
type ScanSettings struct {
	Objects   segment.Settings   `json:"objects"`
	Histogram histogram.Settings `json:"histogram"`
	Radiomics radiomics.Settings `json:"radiomics"`
	Spatial   spatial.Settings   `json:"spatial"`
	Spectral  spectral.Settings  `json:"spectral"`
	// RadiomicsMargin is how many voxels around its bounding box each
	// object's image keeps for radiomics (at least 1: linear interpolation
	// of the mask reads one voxel beyond it). Radiomics' interpolation grid
	// is centred on that image, so the margin is part of the settings.
	RadiomicsMargin int `json:"radiomics_margin_voxels"`
}

// RadiomicsVoxelMM is the isotropic voxel (mm) to which the worker's
// radiomics resample every object, with IBSI's linear interpolation of
// image and mask (mask threshold 0.5) and CT intensities rounded to whole
// HU. A fixed voxel in millimetres makes the texture features of scans
// reconstructed on different grids comparable (IBSI 1, "Interpolation").
// At 0.5 mm the objects worth describing keep enough voxels for 32 grey
// levels: an insert of the MARS phantom (6 mm across) about 1,700, the
// phantom's body and the air around it 30,000 to 40,000 (a million at
// the 0.15 mm of ctrecon's MARS jobs, whose texture matrices made the
// extraction cost more than the reconstruction); an object of the
// segmentation's smallest volume (1 mm³) keeps 8, and a partial-volume
// speck thinner than half a voxel none (it then has no radiomics record).
// 0.3 mm cost twice the CPU time for the same objects (bench/RESULTS.md).
const RadiomicsVoxelMM = 0.5

// DefaultScanSettings are the extractors' defaults, and for radiomics
// objects resampled to RadiomicsVoxelMM, 32 grey levels between each
// object's extremes (the HU range of a whole object varies too much for
// one bin width) and 3D texture matrices. Morphology and local intensity
// are left out: the marching-cubes mesh, convex hull and peak search over
// the largest objects would cost more than the rest together, and the
// object records carry volume, extent and centroid.
func DefaultScanSettings() ScanSettings {
	grey := radiomics.Discretisation{Method: radiomics.FixedBinNumber, Bins: 32}
	v := RadiomicsVoxelMM
	return ScanSettings{
		Objects:   segment.DefaultSettings(),
		Histogram: histogram.DefaultSettings(),
		Radiomics: radiomics.Settings{
			Interpolation: &radiomics.Interpolation{Spacing: [3]float64{v, v, v}, Method: radiomics.Linear,
				MaskMethod: radiomics.Linear, MaskThreshold: 0.5, Round: true},
			Discretisation: grey, IVH: grey,
			Texture:  radiomics.Texture{Aggregations: []string{radiomics.Agg3D}, Distance: 1, ZoneDistance: 1},
			Families: []string{"stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"}},
		Spatial:         spatial.DefaultSettings(),
		Spectral:        spectral.DefaultSettings(),
		RadiomicsMargin: 1,
	}
}

// Scan extracts every feature kind of a reconstructed scan: its objects
// (segment.Auto over all bins, and over maps, the material maps that
// s.Objects.Maps and s.Objects.Confirm name, when given), and per bin the objects' records
// (objects-v1), the HU histograms of the volume and each slice
// (hist-hu-v1), the metric histograms of the volume, each slice and each
// object (mhist-hu-v1), the virtual images of the volume and of each slice
// with objects (vimage-xyz-v1, vimage-xy-v1) and each object's radiomics
// (radiomics-v1, on the bin's HU, voxels outside the field of view left
// out, each object on its own box as scanRadiomics says); and per object its spectral signature (spectral-v1, filed under the
// first bin's series, as it spans them all). series[i] is bins[i]'s DICOM
// series UID.
func Scan(bins []segment.Bin, series []string, ids IDs, s ScanSettings, maps ...segment.Map) (*Result, error) {
	if len(bins) == 0 || len(series) != len(bins) {
		return nil, fmt.Errorf("%w: %d bins and %d series", ErrInput, len(bins), len(series))
	}
	if s.RadiomicsMargin < 1 {
		return nil, fmt.Errorf("%w: settings: radiomics_margin_voxels: %d, want at least 1", ErrInput, s.RadiomicsMargin)
	}
	if err := s.Radiomics.Validate(); err != nil {
		return nil, err
	}
	res, err := newResult(s)
	if err != nil {
		return nil, err
	}
	seg, err := segment.Auto(bins, s.Objects, maps...)
	if err != nil {
		return nil, err
	}
	res.Segmentation = seg
	classes := make(map[int32]string, len(seg.Objects))
	for k, o := range seg.Objects {
		classes[int32(k+1)] = string(o.Class)
	}
	volObjs, sliceObjs, err := spatial.Objects(seg.Map, seg.Grid, classes)
	if err != nil {
		return nil, err
	}
	// The radiomics, most of the work, run on every core while this
	// goroutine makes the other kinds' records.
	var rad [][]ObjectFeatures
	radDone := make(chan error, 1)
	go func() {
		var err error
		rad, err = scanRadiomics(bins, seg, s)
		radDone <- err
	}()
	bases := make([]records.Record, len(bins))
	for i, b := range bins {
		bases[i] = records.Record{ScanID: ids.ScanID, JobID: ids.JobID, Patient: ids.Patient, StudyUID: ids.StudyUID,
			SeriesUID: series[i], Bin: b.Index, Slice: -1}
		if err = res.addBin(bases[i], b, seg, volObjs, sliceObjs, s); err != nil {
			break
		}
	}
	if err := errors.Join(err, <-radDone); err != nil {
		return nil, err
	}
	for i, b := range bins {
		if err := res.addRadiomics(bases[i], rad[i]); err != nil {
			return nil, fmt.Errorf("bin %d: %w", b.Index, err)
		}
	}
	sig, err := spectral.Compute(seg, bins, s.Spectral)
	if err != nil {
		return nil, err
	}
	base := records.Record{ScanID: ids.ScanID, JobID: ids.JobID, Patient: ids.Patient, StudyUID: ids.StudyUID,
		SeriesUID: series[0], Bin: bins[0].Index, Slice: -1}
	for _, sg := range sig.Signatures {
		rec := base
		rec.Object, rec.Class = sg.Label, string(sg.Class)
		if err := res.add(rec, spectral.Kind, float32s(sg.Vector...), sg); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// addBin adds bin b's records of objects, histograms and virtual images.
func (r *Result) addBin(base records.Record, b segment.Bin, seg *segment.Segmentation, vol []spatial.Object, slices [][]spatial.Object, s ScanSettings) error {
	for _, step := range []func() error{
		func() error { return r.addObjects(base, seg) },
		func() error { return r.addHistograms(base, b, seg, s.Histogram) },
		func() error { return r.addVirtualImages(base, vol, slices, s.Spatial) },
	} {
		if err := step(); err != nil {
			return fmt.Errorf("bin %d: %w", b.Index, err)
		}
	}
	return nil
}

// scanRadiomics returns each bin's objects' radiomics, computed in
// parallel, each object on its bounding box grown by s.RadiomicsMargin, on
// the bin's HU, voxels outside the field of view (0) left out. An object
// that the interpolation (thinner than half a voxel of the resampled grid)
// or the re-segmentation leave without voxels has no radiomics.
func scanRadiomics(bins []segment.Bin, seg *segment.Segmentation, s ScanSettings) ([][]ObjectFeatures, error) {
	nobj := len(seg.Objects)
	feats := make([]*ObjectFeatures, len(bins)*nobj)
	errs := make([]error, len(feats))
	masks := make([]sharedMask, nobj)
	var bufs buffers
	parallel.For(len(feats), runtime.GOMAXPROCS(0), func(n int) {
		b, k := bins[n/nobj], n%nobj
		feats[n], errs[n] = objectRadiomics(b, seg, k, &masks[k], &bufs, s)
		if errs[n] != nil {
			errs[n] = fmt.Errorf("bin %d: object %d: %w", b.Index, seg.Objects[k].Label, errs[n])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([][]ObjectFeatures, len(bins))
	for n, f := range feats {
		if f != nil {
			out[n/nobj] = append(out[n/nobj], *f)
		}
	}
	return out, nil
}

// sharedMask holds an object's mask and its interpolation for the bins
// whose mask is the same (all of them, unless the field of view differs by
// bin), so that each is made once per object, not once per bin.
type sharedMask struct {
	mu     sync.Mutex
	made   bool
	source *radiomics.Mask // every bin's, made when made is set
	m      *radiomics.InterpolatedMask
}

// mask returns seg's object k on box bx in bin b, less the voxels outside
// b's field of view (0), or nil when no voxel is left. Objects found on
// all bins (segment.AllBins) hold no voxel outside any bin's field of view
// (Auto leaves those in no object), so their mask is made once for every
// bin.
func (sm *sharedMask) mask(seg *segment.Segmentation, k int, bx box, b segment.Bin) *radiomics.Mask {
	if seg.Settings.Bin != segment.AllBins {
		mu := b.Volume.Data
		return objectMask(seg, k, bx, func(i int) bool { return mu[i] == 0 })
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if !sm.made {
		sm.source, sm.made = objectMask(seg, k, bx, nil), true
	}
	return sm.source
}

// interpolated returns mask interpolated under s: the one kept when it was
// made from the same mask, else a new one, kept when none was.
func (sm *sharedMask) interpolated(mask *radiomics.Mask, s radiomics.Settings) (*radiomics.InterpolatedMask, error) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.m != nil && (sm.m.Source == mask || sm.m.Source.Grid == mask.Grid && slices.Equal(sm.m.Source.Data, mask.Data)) {
		return sm.m, nil
	}
	m, err := radiomics.InterpolateMask(mask, s)
	if err == nil && sm.m == nil {
		sm.m = m
	}
	return m, err
}

// objectRadiomics returns the radiomics of seg's object k in bin b, or nil
// when it has none (see scanRadiomics); shared is the object's mask across
// bins, bufs the scan's HU images.
func objectRadiomics(b segment.Bin, seg *segment.Segmentation, k int, shared *sharedMask, bufs *buffers, s ScanSettings) (*ObjectFeatures, error) {
	o := seg.Objects[k]
	bx := objectBox(seg.Grid, o, s.RadiomicsMargin)
	mask := shared.mask(seg, k, bx, b)
	if mask == nil {
		return nil, nil
	}
	mu := b.Volume.Data
	img := &radiomics.Image{Grid: mask.Grid, Data: bufs.get(len(mask.Data))}
	defer bufs.put(img.Data)
	bx.rows(seg.Grid, func(dst, src, n int) {
		hu := img.Data[dst : dst+n]
		for i, x := range mu[src : src+n] {
			hu[i] = b.HU(float64(x))
		}
	})
	var f []radiomics.Feature
	var err error
	if s.Radiomics.Interpolation == nil {
		f, err = radiomics.Compute(img, mask, s.Radiomics)
	} else {
		var m *radiomics.InterpolatedMask
		if m, err = shared.interpolated(mask, s.Radiomics); err == nil {
			f, err = radiomics.ComputeInterpolated(img, m, s.Radiomics)
		}
	}
	if errors.Is(err, radiomics.ErrEmptyROI) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ObjectFeatures{Label: o.Label, Class: o.Class, Features: f}, nil
}

// ObjectNames name the values of an objects-v1 record: voxels, volume
// (mm³), bounding box (min x, y, z, max x, y, z, mm) and centroid (x, y,
// z, mm).
var ObjectNames = []string{"voxels", "volume_mm3", "min_x_mm", "min_y_mm", "min_z_mm",
	"max_x_mm", "max_y_mm", "max_z_mm", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm"}

// buffers recycles the HU images of the objects' boxes through one
// extraction, which radiomics keeps nothing of: the largest (the air and
// the body) span the field of view, tens of megabytes that a new slice
// would have zeroed and the kernel mapped afresh for every bin and object.
// It holds at most as many as were in use at once.
type buffers struct {
	mu   sync.Mutex
	free [][]float64
}

// get returns a slice of n values, whatever the last user left in them:
// the smallest free one that is large enough, or a new one.
func (bs *buffers) get(n int) []float64 {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	best := -1
	for i, b := range bs.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(bs.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float64, n)
	}
	b := bs.free[best]
	bs.free = slices.Delete(bs.free, best, best+1)
	return b[:n]
}

// put gives b back for another get.
func (bs *buffers) put(b []float64) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.free = append(bs.free, b)
}

// addObjects adds one objects-v1 record per object (ObjectNames).
func (r *Result) addObjects(base records.Record, seg *segment.Segmentation) error {
	r.Names[segment.Kind] = ObjectNames
	for _, o := range seg.Objects {
		rec := base
		rec.Object, rec.Class = o.Label, string(o.Class)
		v := float32s(float64(o.Voxels), o.VolumeMM3, o.MinMM[0], o.MinMM[1], o.MinMM[2],
			o.MaxMM[0], o.MaxMM[1], o.MaxMM[2], o.CentroidMM[0], o.CentroidMM[1], o.CentroidMM[2])
		if err := r.add(rec, segment.Kind, v, o); err != nil {
			return err
		}
	}
	return nil
}

// addHistograms adds the bin's HU histograms and metric histograms, from
// one count of the bin's voxels when their binnings are the same.
func (r *Result) addHistograms(base records.Record, b segment.Bin, seg *segment.Segmentation, s histogram.Settings) error {
	counts, err := histogram.Count(b.Volume, b.MuWater, s.Binning, histogram.Selection{Labels: seg.Map})
	if err != nil {
		return err
	}
	hu := counts
	if s.Binning != histogram.HU {
		if hu, err = histogram.Count(b.Volume, b.MuWater, histogram.HU, histogram.Selection{}); err != nil {
			return err
		}
	}
	hs, err := features.HistogramsOf(hu, features.IDs{StudyUID: base.StudyUID, SeriesUID: base.SeriesUID, Bin: b.Index})
	if err != nil {
		return err
	}
	for _, h := range hs {
		rec := base
		rec.Slice = h.Slice
		if err := r.add(rec, h.Kind, h.Values, nil); err != nil {
			return err
		}
	}
	m, err := histogram.MetricsOf(counts, s)
	if err != nil {
		return err
	}
	metric := func(rec records.Record, mh *histogram.Metric) error {
		v := make([]float32, 0, 2*len(mh.Points))
		for _, p := range mh.Points {
			v = append(v, float32(p.HU), float32(p.Density))
		}
		return r.add(rec, histogram.KindMetric, v, mh)
	}
	if err := metric(base, &m.Volume); err != nil {
		return err
	}
	for i := range m.Slices {
		rec := base
		rec.Slice = m.Slices[i].Z
		if err := metric(rec, &m.Slices[i].Metric); err != nil {
			return err
		}
	}
	for i := range m.Objects {
		rec := base
		o := seg.Objects[m.Objects[i].Label-1]
		rec.Object, rec.Class = o.Label, string(o.Class)
		if err := metric(rec, &m.Objects[i].Metric); err != nil {
			return err
		}
	}
	return nil
}

// addVirtualImages adds the virtual image of the volume and of each slice
// with an object; their relations are the records' data, with no vector.
func (r *Result) addVirtualImages(base records.Record, vol []spatial.Object, slices [][]spatial.Object, s spatial.Settings) error {
	vi, err := spatial.Volume(vol, s)
	if err != nil {
		return err
	}
	if err := r.add(base, spatial.KindVolume, nil, vi); err != nil {
		return err
	}
	for z, objs := range slices {
		if len(objs) == 0 {
			continue
		}
		vi, err := spatial.Slice(objs, s)
		if err != nil {
			return fmt.Errorf("slice %d: %w", z, err)
		}
		rec := base
		rec.Slice = z
		if err := r.add(rec, spatial.KindSlice, nil, vi); err != nil {
			return err
		}
	}
	return nil
}
