package recon

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ctrecon/ctrecon/bus"
)

// stageParts are the stages of Report.Seconds that are parts of another
// stage, whose time holds theirs: the job's status names them
// "parent.part" (bus.Status.Timings).
var stageParts = map[string]string{"preprocess": "reconstruct", "filter": "reconstruct", "backproject": "reconstruct"}

// stageOrder is the order in which a job's stages run, in which
// WriteStatus lists their times; stages it does not name follow, sorted.
var stageOrder = []string{"read", "check", "reconstruct", "beam_hardening", "calibrate", "dicom", "preview", "features", "write", "pacs"}

// doneStatus is the status of a job done with report rep: where its
// output, its study, each bin's series and each material's map are, each
// stage's seconds and the report's warnings (which the bus bounds).
func doneStatus(rep *Report) bus.Status {
	st := bus.Status{State: bus.StateDone, Progress: 1, Device: rep.Device, Output: rep.Job.Output,
		StudyInstanceUID: rep.StudyInstanceUID, Timings: make(map[string]float64, len(rep.Seconds)),
		Slabs: len(rep.Slabs), SlabsDone: len(rep.Slabs), Materials: materialsStatus(rep.Materials),
		Warnings: rep.Warnings}
	for _, b := range rep.Bins {
		st.Series = append(st.Series, bus.Series{Bin: b.Index, LowKeV: b.LowKeV, HighKeV: b.HighKeV,
			SeriesInstanceUID: b.SeriesInstanceUID, Dir: b.Dir, Files: b.Files})
	}
	for stage, s := range rep.Seconds {
		if parent, ok := stageParts[stage]; ok {
			stage = parent + "." + stage
		}
		st.Timings[stage] = s
	}
	return st
}

// materialsStatus is what a status says of a job's material maps m (nil:
// none).
func materialsStatus(m *MaterialsReport) *bus.Materials {
	if m == nil {
		return nil
	}
	out := &bus.Materials{Calibration: m.Calibration, Source: m.Source}
	for _, mr := range m.Maps {
		out.Maps = append(out.Maps, bus.MaterialMap{Material: mr.Material, Unit: mr.Unit,
			SeriesInstanceUID: mr.SeriesInstanceUID, Dir: mr.Dir, Files: len(mr.Instances),
			NoiseSD: mr.NoiseSD, NoiseLimit: mr.NoiseLimit})
	}
	return out
}

// WriteStatus writes, two spaces in, where a done job's results are, how
// long it took and what it warns of: the output folder, the study, each
// bin's series and folder, the calibration and each material's map with
// its noise, the seconds of each stage (its parts in brackets) and in
// total, and each warning. A job that failed after committing its output
// (its upload failed) names that output the same way. For another job it
// writes how many of a split job's slabs are done and the warnings so far
// (a failed job's are those its report had when it failed).
func WriteStatus(w io.Writer, st bus.Status) error {
	var b strings.Builder
	switch {
	case st.State == bus.StateDone, st.State == bus.StateFailed && st.Output != "":
		writeDone(&b, st)
	case st.Slabs > 0:
		fmt.Fprintf(&b, "  slabs %d of %d done\n", st.SlabsDone, st.Slabs)
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDone writes what a done job made: WriteStatus's lines before the
// warnings.
func writeDone(b *strings.Builder, st bus.Status) {
	fmt.Fprintf(b, "  output %s\n", st.Output)
	if st.StudyInstanceUID != "" {
		fmt.Fprintf(b, "  study %s\n", st.StudyInstanceUID)
	}
	for _, s := range st.Series {
		fmt.Fprintf(b, "  bin %d (%g-%g keV): series %s, %d slices in %s\n", s.Bin, s.LowKeV, s.HighKeV, s.SeriesInstanceUID, s.Files, s.Dir)
	}
	writeMaterials(b, st.Materials)
	if st.Slabs > 0 {
		fmt.Fprintf(b, "  slabs %d of %d done (their workers and seconds: report.json)\n", st.SlabsDone, st.Slabs)
	}
	if len(st.Timings) > 0 {
		fmt.Fprintf(b, "  seconds: total %.2f = %s\n", st.TotalSeconds(), stageTimes(st.Timings))
	}
}

// writeMaterials writes the calibration of a job's material maps m and
// each map's series, folder and noise (nothing for nil).
func writeMaterials(b *strings.Builder, m *bus.Materials) {
	if m == nil {
		return
	}
	fmt.Fprintf(b, "  materials: calibration %s (%s)\n", m.Calibration, m.Source)
	for _, mp := range m.Maps {
		noise := "noise not measured"
		if mp.NoiseSD > 0 {
			noise = fmt.Sprintf("noise %.3g %s per voxel (limit %.3g)", mp.NoiseSD, mp.Unit, mp.NoiseLimit)
		}
		fmt.Fprintf(b, "  material %s (%s): series %s, %d slices in %s, %s\n", mp.Material, mp.Unit,
			mp.SeriesInstanceUID, mp.Files, mp.Dir, noise)
	}
}

// stageTimes writes timings as "read 0.01 + reconstruct 3.10 (preprocess
// 0.50, filter 0.40) + ...": the stages in the order they run, each
// stage's parts in brackets after it.
func stageTimes(timings map[string]float64) string {
	parts := map[string][]string{}
	var stages []string
	for _, name := range slices.Sorted(maps.Keys(timings)) {
		if parent, part, ok := strings.Cut(name, "."); ok {
			parts[parent] = append(parts[parent], fmt.Sprintf("%s %.2f", part, timings[name]))
		} else {
			stages = append(stages, name)
		}
	}
	rank := func(stage string) int {
		if i := slices.Index(stageOrder, stage); i >= 0 {
			return i
		}
		return len(stageOrder)
	}
	slices.SortStableFunc(stages, func(a, b string) int { return rank(a) - rank(b) })
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = fmt.Sprintf("%s %.2f", s, timings[s])
		if p := parts[s]; len(p) > 0 {
			out[i] += " (" + strings.Join(p, ", ") + ")"
		}
	}
	return strings.Join(out, " + ")
}
