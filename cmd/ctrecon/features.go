package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/radiomics"
)

// runFeatures computes the IBSI radiomics features of a CT image's
// objects: ctrecon features -i DICOM_DIR|VOLUME.mha [--mask MASK]
// (--settings FILE.json | --preset NAME | IBSI flags with --bins or
// --bin-width) -o OUT.parquet [--json OUT.json]. It refuses an existing
// output file.
func runFeatures(args []string) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	in := fs.String("i", "", "a folder of DICOM CT images, or a .mha volume")
	mask := fs.String("mask", "", "the objects: a label image (.mha, .nii, .nii.gz) on the image's grid; none: the whole image less its padding (PixelPaddingValue)")
	out := fs.String("o", "", "the feature records, a Parquet file")
	js := fs.String("json", "", "also write the features as a JSON array of {tag, ibsi_code, aggregation, value}")
	file := fs.String("settings", "", "radiomics settings, a JSON file (radiomics.Settings)")
	preset := fs.String("preset", "", "built-in settings: "+strings.Join(radiomics.PresetNames(), ", "))
	ibsi := ibsiFlags(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *in == "":
		return errors.New("-i DICOM_DIR|VOLUME.mha is required")
	case *out == "":
		return errors.New("-o OUT.parquet is required")
	case *file != "" && *preset != "":
		return errors.New("--settings and --preset: give one")
	}
	for _, o := range []struct{ flag, path string }{{"-o", *out}, {"--json", *js}} {
		if _, err := os.Lstat(o.path); o.path != "" && err == nil {
			return fmt.Errorf("%s %s: the file exists: features does not overwrite; give another %s, or remove this one if it is not needed", o.flag, o.path, o.flag)
		}
	}
	s, err := featureSettings(fs, *file, *preset, ibsi)
	if err != nil {
		return err
	}
	objs, err := extract.ImageJob{Input: *in, Mask: *mask, Settings: s, Parquet: *out, JSON: *js}.Run()
	if err != nil {
		return err
	}
	n := 0
	for _, o := range objs {
		n += len(o.Features)
	}
	noun := "objects"
	if len(objs) == 1 {
		noun = "object"
	}
	fmt.Printf("%d features of %d %s: %s\n", n, len(objs), noun, *out)
	return nil
}

// ibsi holds the IBSI flags, which set radiomics settings one by one.
type ibsi struct {
	spacing, interp, rangeHU, families, aggregations *string
	inPlane                                          *bool
	outlierSD, binWidth                              *float64
	bins, distance                                   *int
}

func ibsiFlags(fs *flag.FlagSet) ibsi {
	return ibsi{
		spacing:      fs.String("spacing", "", "resample to MM or X,Y,Z mm (IBSI interpolation)"),
		inPlane:      fs.Bool("in-plane", false, "resample each slice alone (2D interpolation)"),
		interp:       fs.String("interp", radiomics.Linear, "interpolation: nearest, linear or cubic"),
		rangeHU:      fs.String("range", "", "re-segmentation range MIN,MAX"),
		outlierSD:    fs.Float64("outlier-sd", 0, "re-segmentation: keep mean ± K SD"),
		bins:         fs.Int("bins", 0, "discretisation by fixed bin number"),
		binWidth:     fs.Float64("bin-width", 0, "discretisation by fixed bin size"),
		families:     fs.String("families", "", "comma-separated families (morph,loc,stat,ih,ivh,cm,rlm,szm,dzm,ngt,ngl); default all"),
		aggregations: fs.String("aggregations", "", "texture aggregations: 2D,2.5D,3D"),
		distance:     fs.Int("distance", 0, "texture neighbour distance (default 1)"),
	}
}

// featureSettings returns the settings of a file or a preset, or a base
// of IBSI's defaults, with the IBSI flags given on the command line
// applied on top.
func featureSettings(fs *flag.FlagSet, file, preset string, f ibsi) (radiomics.Settings, error) {
	var s radiomics.Settings
	switch {
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return s, fmt.Errorf("--settings: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return s, fmt.Errorf("--settings %s: %w", file, err)
		}
	case preset != "":
		p, err := radiomics.Preset(preset)
		if err != nil {
			return s, fmt.Errorf("--preset: %w", err)
		}
		s = p
	default:
		s.Texture = radiomics.Texture{Aggregations: []string{radiomics.Agg2D, radiomics.Agg25D, radiomics.Agg3D}, Distance: 1, ZoneDistance: 1}
	}
	var err error
	fs.Visit(func(fl *flag.Flag) {
		if err == nil {
			err = f.apply(&s, fl.Name)
		}
	})
	if err != nil {
		return s, err
	}
	if file == "" && preset == "" && s.Discretisation.Method == "" {
		return s, errors.New("give --settings FILE.json, --preset NAME or IBSI flags with --bins N or --bin-width W")
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("%w (from --settings, --preset and the IBSI flags)", err)
	}
	return s, nil
}

// apply sets the field of flag name in s.
func (f ibsi) apply(s *radiomics.Settings, name string) error {
	switch name {
	case "spacing", "in-plane", "interp":
		if s.Interpolation == nil {
			s.Interpolation = &radiomics.Interpolation{Method: radiomics.Linear, MaskMethod: radiomics.Linear, MaskThreshold: 0.5, Round: true}
		}
		s.Interpolation.Method, s.Interpolation.InPlane = *f.interp, *f.inPlane
		if *f.spacing != "" {
			sp, err := floatList(*f.spacing, 3)
			if err != nil {
				return fmt.Errorf("--spacing: %w", err)
			}
			copy(s.Interpolation.Spacing[:], sp)
		}
	case "range":
		r, err := floatList(*f.rangeHU, 2)
		if err != nil || len(r) != 2 || strings.Count(*f.rangeHU, ",") != 1 {
			return fmt.Errorf("--range %q: want MIN,MAX", *f.rangeHU)
		}
		s.Resegmentation.Min, s.Resegmentation.Max = &r[0], &r[1]
	case "outlier-sd":
		s.Resegmentation.OutlierSD = *f.outlierSD
	case "bins":
		s.Discretisation = radiomics.Discretisation{Method: radiomics.FixedBinNumber, Bins: *f.bins}
		s.IVH = s.Discretisation
	case "bin-width":
		s.Discretisation = radiomics.Discretisation{Method: radiomics.FixedBinSize, BinWidth: *f.binWidth}
		s.IVH = s.Discretisation
	case "families":
		s.Families = strings.Split(*f.families, ",")
	case "aggregations":
		s.Texture.Aggregations = strings.Split(*f.aggregations, ",")
	case "distance":
		s.Texture.Distance = *f.distance
	}
	return nil
}
