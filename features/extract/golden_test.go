package extract

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/features/segment"
)

// noisyScanBins is the synthetic scan of scanBins on voxels of 0.35 mm (so
// that the worker's radiomics resample it to RadiomicsVoxelMM) with
// Gaussian noise of 25 HU (PCG, a fixed seed) in every voxel inside the
// field of view: zones, runs and neighbourhoods of many sizes and grey
// levels, objects of several components and specks that the opening
// removes.
func noisyScanBins() []segment.Bin {
	bins := scanBins()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, b := range bins {
		v := b.Volume
		v.Grid.Spacing = [3]float64{0.35, 0.35, 0.35}
		for i, mu := range v.Data {
			if mu != 0 {
				v.Data[i] = mu + float32(b.MuWater*25*rng.NormFloat64()/1000)
			}
		}
	}
	return bins
}

// recordsHashes returns, per record kind, the SHA-256 of its records in
// order: identifiers, object, class, every value's bits and the data.
func recordsHashes(res *Result) map[string]string {
	hs := map[string]hash.Hash{}
	for _, r := range res.Records {
		h, ok := hs[r.KindVersion()]
		if !ok {
			h = sha256.New()
			hs[r.KindVersion()] = h
		}
		fmt.Fprintf(h, "%s|%s|%s|%s|%s|%d|%d|%d|%s|%s|", r.ScanID, r.JobID, r.Patient, r.StudyUID, r.SeriesUID,
			r.Bin, r.Slice, r.Object, r.Class, r.Settings)
		for _, v := range r.Values {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
		h.Write(r.Data)
	}
	out := make(map[string]string, len(hs))
	for k, h := range hs {
		out[k] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// TestScanRecordsUnchanged checks that Scan's records of the noisy scan are
// bit for bit those of the code before the extraction was made faster
// (hashes made on main at d54a85a): with the worker's settings, and with
// every texture aggregation (2D, 2.5D and 3D), whose per-slice matrices
// the worker's 3D-only settings leave out.
func TestScanRecordsUnchanged(t *testing.T) {
	all := DefaultScanSettings()
	all.Radiomics.Texture.Aggregations = []string{radiomics.Agg2D, radiomics.Agg25D, radiomics.Agg3D}
	for _, c := range []struct {
		name string
		s    ScanSettings
		want map[string]string
	}{
		{"worker", DefaultScanSettings(), map[string]string{
			"hist-hu-v1":    "1e03dbb4f018fd59f7636efb8d25093e0172f02fd10e8884f314e338a1919865",
			"mhist-hu-v1":   "e2da61cf774f2ba9572692335cd9bed13e883195b054487e8104bc1b36203a26",
			"objects-v1":    "bc04ff7ed7ec42997caab2b18cb4e690c8cdb258b7936395a7387fb396d404de",
			"radiomics-v1":  "c39ac397732151a8e215756ab0c35923419c72c8106c6b325fb0be2afaf7067e",
			"spectral-v1":   "35960f4cda90c7bfe6e2ad4c68c41445c1295687327e14d90b48b9e3598bfd1a",
			"vimage-xy-v1":  "6fe1d5651f3030b9f4b28f8421ef474c93cb303f79ca200fff65e632318a85c2",
			"vimage-xyz-v1": "06141e57e86610125d7057cdf087a8395114aa8c48a87211c4bf0c9890d4948c",
		}},
		{"all aggregations", all, map[string]string{
			"hist-hu-v1":    "aa8d000a53850cc2fdef4a78bdcebd645e026f32b37e73f6e1e2cc59c6bd6635",
			"mhist-hu-v1":   "912c7105b73db3afaa65b26ab8761507bf6de2214e394c71d3cd2f103c0a5de9",
			"objects-v1":    "4d306adcce7942d89b631ea51b80a67e58c06b140463ae9c3caa708191717ceb",
			"radiomics-v1":  "d8cdd16f5453661571c2dec9889eb57c771317c5733b66e4cdc305e4615e6924",
			"spectral-v1":   "b000c4a45e62c2bbbee4a1e0c8a7c3f8ef256011414bdb90a6ef71b15a314997",
			"vimage-xy-v1":  "90ff68d9c1c4ca264746458691db23b2a396fd035ca9e3f0615a8ec0b49c14e3",
			"vimage-xyz-v1": "0f9850f1fe47a93bec3851c370adc39e7bf6a36d113dd7c37d954818bee18b3d",
		}},
	} {
		res, err := Scan(noisyScanBins(), scanSeries, scanIDs(), c.s)
		if err != nil {
			t.Fatal(err)
		}
		got := recordsHashes(res)
		for k, h := range got {
			if c.want[k] != h {
				t.Errorf("%s: %s records: hash %s, want %s", c.name, k, h, c.want[k])
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d kinds of records, want %d", c.name, len(got), len(c.want))
		}
	}
}
