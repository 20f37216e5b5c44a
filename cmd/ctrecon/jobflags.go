package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ctrecon/ctrecon/recon"
)

// jobFlags are the command-line flags that set fields of a recon.Job, with
// each field's JSON path as recon's errors name it. recon (on either kind
// of input), submit and demo build their job from this one list, so that a
// flag reaches the reconstruction the same way on every path (or recon
// refuses it where it cannot, naming the flag), and an error about a field
// a flag set names the flag (--voxel), not the field (volume.voxel_mm[0]).
var jobFlags = []struct {
	flag, field string
	set         func(j *recon.Job, value string) error
}{
	{"id", "id", text(func(j *recon.Job) *string { return &j.ID })},
	{"i", "input", text(func(j *recon.Job) *string { return &j.Input })},
	{"scan", "scan_id", text(func(j *recon.Job) *string { return &j.ScanID })},
	{"o", "output", text(func(j *recon.Job) *string { return &j.Output })},
	{"pacs", "pacs", text(func(j *recon.Job) *string { return &j.PACS })},
	{"device", "device", text(func(j *recon.Job) *string { return &j.Device })},
	{"threads", "threads", integer(func(j *recon.Job) *int { return &j.Threads })},
	{"batch", "batch", integer(func(j *recon.Job) *int { return &j.Batch })},
	{"slabs", "slabs", func(j *recon.Job, v string) (err error) {
		if j.Slabs, err = recon.ParseSlabCount(v); err == nil && j.Slabs < 1 && j.Slabs != recon.SlabsAuto {
			err = fmt.Errorf("%d: must be at least 1 (1: one piece) or auto", j.Slabs)
		}
		return err
	}},
	{"keep-outside-fov", "keep_outside_fov", boolean(func(j *recon.Job) *bool { return &j.KeepOutsideFOV })},
	{"png", "png", text(func(j *recon.Job) *string { return &j.PNG })},
	{"mha", "write_mha", boolean(func(j *recon.Job) *bool { return &j.WriteMHA })},
	{"bins", "bins", func(j *recon.Job, v string) (err error) { j.Bins, err = intList(v); return err }},
	{"dim", "volume.dim", func(j *recon.Job, v string) (err error) { j.Volume.Dim, err = dims3(v); return err }},
	{"voxel", "volume.voxel_mm", triple(func(j *recon.Job) *recon.Triple[float64] { return &j.Volume.VoxelMM })},
	{"offset", "volume.offset_mm", triple(func(j *recon.Job) *recon.Triple[float64] { return &j.Volume.OffsetMM })},
	{"filter", "filter.window", text(func(j *recon.Job) *string { return &j.Filter.Window })},
	{"cutoff", "filter.cutoff", number(func(j *recon.Job) *float64 { return &j.Filter.Cutoff })},
	{"pad", "filter.padding", number(func(j *recon.Job) *float64 { return &j.Filter.Padding })},
	{"water-roi", "water_roi", waterROI},
	{"scan-wait", "scan_wait_s", seconds(func(j *recon.Job) *float64 { return &j.ScanWaitS })},
	{"pacs-timeout", "pacs_timeout_s", seconds(func(j *recon.Job) *float64 { return &j.PACSTimeoutS })},
	{"materials", "materials", func(j *recon.Job, v string) error { j.Materials = items(v); return nil }},
	{"calibration", "calibration", text(func(j *recon.Job) *string { return &j.Calibration })},
	{"material-smooth", "material_smooth_mm", number(func(j *recon.Job) *float64 { return &j.MaterialSmoothMM })},
	{"material-voxelwise", "material_voxelwise", boolean(func(j *recon.Job) *bool { return &j.MaterialVoxelwise })},
	{"max-memory", "max_memory_bytes", byteSize(func(j *recon.Job) *int64 { return &j.MaxMemoryBytes })},
}

// byteSize sets a field in bytes from a size with its unit, as
// go-humanize reads it: 1GiB, 512MiB, 2GB, 1073741824; "" is 0.
func byteSize(field func(*recon.Job) *int64) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) error {
		if v == "" || v == "0" {
			*field(j) = 0
			return nil
		}
		n, err := humanize.ParseBytes(v)
		if err != nil || n > math.MaxInt64 {
			return fmt.Errorf("%q is not a size such as 1GiB or 512MiB", v)
		}
		*field(j) = int64(n)
		return nil
	}
}

// items splits a comma-separated list, keeping empty items for the job's
// validation to refuse ("water,,iodine" is a slip); "" is no list.
func items(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// nonEmpty drops the empty strings of a split list ("" is no list).
func nonEmpty(s []string) []string {
	var out []string
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// setJob sets job's fields from the flags of fs that jobFlags lists: every
// one fs has or, with onlyGiven, those given on the command line (which
// override a job file's fields). It validates the job and returns the
// fields it set, which name their flags in errors.
func setJob(fs *flag.FlagSet, job *recon.Job, onlyGiven bool) (flagFields, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	set := flagFields{}
	for _, jf := range jobFlags {
		f := fs.Lookup(jf.flag)
		if f == nil || onlyGiven && !given[jf.flag] {
			continue
		}
		if err := jf.set(job, f.Value.String()); err != nil {
			return set, fmt.Errorf("%s: %w", dashed(jf.flag), err)
		}
		set[jf.field] = dashed(jf.flag)
	}
	return set, set.name(job.Validate())
}

// flagFields maps the job fields set from flags to their flags, as typed.
type flagFields map[string]string

// name returns err, or for a *recon.FieldError about a field a flag set,
// an error that names the flag instead (and wraps the field error).
func (set flagFields) name(err error) error {
	var fe *recon.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	for field, flag := range set {
		rest, ok := strings.CutPrefix(fe.Field, field)
		switch {
		case !ok:
		case rest == "" || rest[0] == '[': // the field, or one of its values
			return &flagError{flag: flag, field: fe}
		case rest[0] == '.': // a part of it, such as water_roi.radius_mm
			return &flagError{flag: flag, part: rest[1:], field: fe}
		}
	}
	return err
}

// flagError is an error about a job field, named by the flag that set it.
type flagError struct {
	flag  string
	part  string // the part of the flag's value, as the job names it (radius_mm), if it is not all of it
	field *recon.FieldError
}

func (e *flagError) Error() string {
	if e.part != "" {
		return fmt.Sprintf("%s (%s): %s", e.flag, e.part, e.field.Problem)
	}
	return e.flag + ": " + e.field.Problem
}

func (e *flagError) Unwrap() error { return e.field }

// seconds sets a field in seconds from a duration (2m30s); a negative one
// is an error.
func seconds(field func(*recon.Job) *float64) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("%v: must be positive", d)
		}
		*field(j) = d.Seconds()
		return nil
	}
}

// dashed writes a flag as the README does: -i, --voxel.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func text(field func(*recon.Job) *string) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) error { *field(j) = v; return nil }
}

func integer(field func(*recon.Job) *int) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) (err error) {
		*field(j), err = strconv.Atoi(v)
		return err
	}
}

func boolean(field func(*recon.Job) *bool) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) (err error) {
		*field(j), err = strconv.ParseBool(v)
		return err
	}
}

func number(field func(*recon.Job) *float64) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) (err error) {
		*field(j), err = strconv.ParseFloat(v, 64)
		return err
	}
}

func triple(field func(*recon.Job) *recon.Triple[float64]) func(*recon.Job, string) error {
	return func(j *recon.Job, v string) error {
		f, err := floatList(v, 3)
		if err == nil {
			*field(j) = recon.Triple[float64](f)
		}
		return err
	}
}

// waterROI sets the water sphere from X,Y,Z,R in mm; "" is none.
func waterROI(j *recon.Job, v string) error {
	if v == "" {
		j.WaterROI = nil
		return nil
	}
	f, err := floatList(v, 4)
	if err == nil {
		j.WaterROI = &recon.Sphere{CenterMM: [3]float64(f[:3]), RadiusMM: f[3]}
	}
	return err
}
