package radiomics

import "testing"

// BenchmarkCTPhantomConfigC computes the whole IBSI feature set for the CT
// phantom under configuration C (trilinear resampling to 2 mm, 3D
// texture), from the image and mask in memory: see bench/RESULTS.md.
func BenchmarkCTPhantomConfigC(b *testing.B) {
	img, mask, _ := ctPhantom(b)
	s := MustPreset("ibsi-c")
	b.ResetTimer()
	for b.Loop() {
		if _, err := Compute(img, mask, s); err != nil {
			b.Fatal(err)
		}
	}
}
