package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/recon"
)

// TestReconMHAWritesMaterialMaps checks that recon --mha writes, as a
// worker does for a job with write_mha, every bin's attenuation and every
// material map as a MetaImage volume on the job's grid, and that a
// plastimatch folder (whose output is a .mha already) refuses it naming
// --mha. Before, recon had no flag for write_mha: an offline job could not
// write the maps' float values at all.
func TestReconMHAWritesMaterialMaps(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	if err := runPhantom([]string{"--spectral", "--views", "8", "--thresholds", "15,33.5,50.5", "--vials", "test:12", "-o", at("scan")}); err != nil {
		t.Fatal(err)
	}
	mats := []string{"water", "iodine", "gadolinium"}
	if err := runRecon([]string{"-i", at("scan"), "-o", at("out"), "--dim", "16", "--device", "cpu", "--materials", strings.Join(mats, ","), "--mha"}); err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(at("out"))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Job.WriteMHA {
		t.Errorf("report's job has write_mha false after --mha")
	}
	var names []string
	for b := range 3 {
		names = append(names, fmt.Sprintf("volume_bin%d.mha", b))
	}
	for _, m := range mats {
		names = append(names, "material_"+m+".mha")
	}
	for _, name := range names {
		vol, err := metaimage.Read(at("out/" + name))
		if err != nil {
			t.Errorf("--mha: %v", err)
			continue
		}
		if vol.Grid.Dim != rep.Grid.Dim {
			t.Errorf("%s: %v voxels, want the job's %v", name, vol.Grid.Dim, rep.Grid.Dim)
		}
	}

	if err := runPhantom([]string{"-o", at("pfm"), "--det", "16x8", "--views", "4"}); err != nil {
		t.Fatal(err)
	}
	if err := runRecon([]string{"-i", at("pfm"), "-o", at("x.mha"), "--dim", "8", "--device", "cpu", "--mha"}); err == nil || !strings.Contains(err.Error(), "--mha") {
		t.Errorf("recon --mha of a plastimatch folder: err = %v, want one naming --mha", err)
	}
}
