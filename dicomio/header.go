package dicomio

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/fdk"
)

// text is a text attribute taken from the caller, checked against its VR
// and encoded in the series' character set.
type text struct {
	field string // for errors, e.g. "Study.PatientName"
	t     tag.Tag
	vr    string
	vals  []string
	// omitEmpty leaves out a type 3 attribute that has no value.
	omitEmpty bool
}

// Check reports what WriteSeries would refuse in st, a grid g and opts,
// before there is a volume: a text too long or with characters its VR does
// not allow, a malformed UID, date or code, a grid DICOM cannot hold. Run it
// before a reconstruction, so that its result is not lost to a header that
// cannot be written. Errors wrap ErrInput and name the field.
func Check(st Study, g fdk.Grid, opts Options) error {
	if err := checkGrid(g); err != nil {
		return err
	}
	_, err := studyHeader(st, opts)
	return err
}

// checkGrid rejects a grid with no voxels or slices larger than DICOM's
// Rows and Columns hold.
func checkGrid(g fdk.Grid) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: volume: %w", ErrInput, err)
	}
	if g.Dim[0] > math.MaxUint16 || g.Dim[1] > math.MaxUint16 {
		return fmt.Errorf("%w: slices of %dx%d voxels: DICOM Rows and Columns stop at 65535", ErrInput, g.Dim[0], g.Dim[1])
	}
	return nil
}

func inputErr(field string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInput, field, fmt.Sprintf(format, args...))
}

// checkBin reports a bin whose thresholds, calibration or number cannot be
// written.
func checkBin(b Bin) error {
	switch {
	case !(b.MuWater > 0) || math.IsInf(b.MuWater, 1):
		return inputErr("Bin.MuWater", "%g: water's attenuation must be positive and finite (1/mm)", b.MuWater)
	case b.Index < 0:
		return inputErr("Bin.Index", "%d is negative", b.Index)
	case !(b.LowKeV >= 0) || math.IsInf(b.LowKeV, 1):
		return inputErr("Bin.LowKeV", "%g must be a non-negative energy", b.LowKeV)
	case !openBin(b) && !(b.HighKeV > b.LowKeV):
		return inputErr("Bin.HighKeV", "%g must exceed LowKeV %g (0 or +Inf for an open top bin)", b.HighKeV, b.LowKeV)
	case b.SeriesNumber < 0 || b.SeriesNumber > math.MaxInt32:
		return inputErr("Bin.SeriesNumber", "%d is not a series number", b.SeriesNumber)
	case b.SeriesInstanceUID != "" && !ValidUID(b.SeriesInstanceUID):
		return inputErr("Bin.SeriesInstanceUID", "%q is not a UID", b.SeriesInstanceUID)
	}
	return nil
}

// header checks the study, bin, grid and options and returns the elements
// that every file of the series shares, and the Series to fill in.
func header(st Study, c content, g fdk.Grid, o Options) ([]*dicom.Element, Series, error) {
	s := Series{
		StudyInstanceUID:    st.StudyInstanceUID,
		SeriesInstanceUID:   c.uid,
		FrameOfReferenceUID: st.FrameOfReferenceUID,
		SeriesNumber:        c.number,
		Description:         c.description,
	}
	if s.SeriesInstanceUID == "" {
		s.SeriesInstanceUID = NewUID()
	}
	ds, err := studyHeader(st, o,
		text{"SeriesDescription", tag.SeriesDescription, "LO", []string{s.Description}, false},
		text{"ImageComments", tag.ImageComments, "LT", []string{c.comment}, false})
	if err != nil {
		return nil, Series{}, err
	}
	dx, dy, dz := g.Spacing[0], g.Spacing[1], g.Spacing[2]
	// Rows run along world x, columns along world y, in the patient frame.
	row, col := toPatient(o.PatientPosition, fdk.Vec3{1, 0, 0}), toPatient(o.PatientPosition, fdk.Vec3{0, 1, 0})
	str := func(t tag.Tag, vr string, v ...string) *dicom.Element { return elem(t, vr, v) }
	us := func(t tag.Tag, v int) *dicom.Element { return elem(t, "US", []int{v}) }
	ds = append(ds,
		str(tag.SeriesInstanceUID, "UI", s.SeriesInstanceUID),
		str(tag.SeriesNumber, "IS", strconv.Itoa(s.SeriesNumber)),
		// General Image
		str(tag.ImageType, "CS", c.imageType...),
		// CT Image
		str(tag.RescaleIntercept, "DS", formatDS(c.intercept)),
		str(tag.RescaleSlope, "DS", formatDS(c.slope)),
		str(tag.RescaleType, "LO", c.rescaleType),
		// Image Plane
		str(tag.PixelSpacing, "DS", formatDS(dy), formatDS(dx)),
		str(tag.ImageOrientationPatient, "DS", formatDS(row[0]), formatDS(row[1]), formatDS(row[2]),
			formatDS(col[0]), formatDS(col[1]), formatDS(col[2])),
		str(tag.SliceThickness, "DS", formatDS(dz)),
		str(tag.SpacingBetweenSlices, "DS", formatDS(dz)),
		// Image Pixel
		us(tag.Rows, g.Dim[1]),
		us(tag.Columns, g.Dim[0]),
	)
	if o.FOV != nil || o.Padded {
		// General Equipment: the stored value of voxels outside the field
		// of view, SS as PixelRepresentation 1 makes pixels signed.
		ds = append(ds, elem(tag.PixelPaddingValue, "SS", []int{paddingValue}))
	}
	return ds, s, nil
}

// studyHeader checks the study, the options and the series' own texts and
// returns the elements that every series of the study shares, with the
// texts.
func studyHeader(st Study, o Options, seriesTexts ...text) ([]*dicom.Element, error) {
	bad := func(field string, format string, args ...any) ([]*dicom.Element, error) {
		return nil, inputErr(field, format, args...)
	}
	switch {
	case !(o.KVP >= 0) || math.IsInf(o.KVP, 1):
		return bad("Options.KVP", "%g is not a voltage", o.KVP)
	case !(o.SourceToIsocentre >= 0) || math.IsInf(o.SourceToIsocentre, 1):
		return bad("Options.SourceToIsocentre", "%g is not a distance", o.SourceToIsocentre)
	case !(o.SourceToDetector >= 0) || math.IsInf(o.SourceToDetector, 1):
		return bad("Options.SourceToDetector", "%g is not a distance", o.SourceToDetector)
	}
	for field, u := range map[string]string{"Study.StudyInstanceUID": st.StudyInstanceUID, "Study.FrameOfReferenceUID": st.FrameOfReferenceUID} {
		if u == "" {
			return bad(field, "empty: make it once per study with NewUID so that every bin shares it")
		}
		if !ValidUID(u) {
			return bad(field, "%q is not a UID", u)
		}
	}
	birth, err := parseDate(st.PatientBirthDate)
	if err != nil {
		return bad("Study.PatientBirthDate", "%v", err)
	}
	switch st.PatientSex {
	case "", "M", "F", "O":
	default:
		return bad("Study.PatientSex", "%q: DICOM allows M, F, O or empty", st.PatientSex)
	}
	if err := CheckPatientPosition(o.PatientPosition); err != nil {
		return bad("Options.PatientPosition", "%v", err)
	}
	studyDate := formatDA(st.StudyTime)
	if st.StudyTime.IsZero() {
		if studyDate, err = parseDate(st.StudyDate); err != nil {
			return bad("Study.StudyDate", "%v", err)
		}
	}
	windows := o.Windows
	if windows == nil {
		windows = DefaultWindows()
	}
	var centres, widths, explanations []string
	for i, w := range windows {
		if !finite(w.Center) || !(w.Width >= 1) || math.IsInf(w.Width, 1) {
			return bad(fmt.Sprintf("Options.Windows[%d]", i), "centre %g, width %g: the width must be at least 1 HU", w.Center, w.Width)
		}
		centres = append(centres, formatDS(w.Center))
		widths = append(widths, formatDS(w.Width))
		explanations = append(explanations, w.Explanation)
	}

	// Dates and times are local in DICOM; write them all in the study's
	// zone so that one TimezoneOffsetFromUTC is true of every one.
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	if !st.StudyTime.IsZero() {
		created = created.In(st.StudyTime.Location())
	}
	texts := []text{
		{"Study.PatientName", tag.PatientName, "PN", []string{st.PatientName}, false},
		{"Study.PatientID", tag.PatientID, "LO", []string{st.PatientID}, false},
		{"Study.StudyID", tag.StudyID, "SH", []string{st.StudyID}, false},
		{"Study.AccessionNumber", tag.AccessionNumber, "SH", []string{st.AccessionNumber}, false},
		{"Study.StudyDescription", tag.StudyDescription, "LO", []string{st.StudyDescription}, true},
		{"Study.ReferringPhysician", tag.ReferringPhysicianName, "PN", []string{st.ReferringPhysician}, false},
		{"Study.Manufacturer", tag.Manufacturer, "LO", []string{st.Manufacturer}, false},
		{"Study.Model", tag.ManufacturerModelName, "LO", []string{st.Model}, true},
		{"Study.StationName", tag.StationName, "SH", []string{st.StationName}, true},
		{"Study.SoftwareVersion", tag.SoftwareVersions, "LO", []string{st.SoftwareVersion}, true},
		{"Options.Filter", tag.ConvolutionKernel, "SH", []string{o.Filter}, true},
	}
	texts = append(texts, seriesTexts...)
	if len(windows) > 0 {
		texts = append(texts, text{"Options.Windows explanations", tag.WindowCenterWidthExplanation, "LO", explanations, false})
	}
	// ISO 8859-1 (ISO_IR 100) reads everywhere; names that need more, such
	// as Māori macrons, switch the series to UTF-8 (ISO_IR 192).
	charset := "ISO_IR 100"
	for _, x := range texts {
		for _, v := range x.vals {
			if err := CheckValue(x.vr, v); err != nil {
				return bad(x.field, "%v", err)
			}
			if !latin1(v) {
				charset = "ISO_IR 192"
			}
		}
	}

	kvp := []string{}
	if o.KVP > 0 {
		kvp = []string{formatDS(o.KVP)}
	}
	position := []string{}
	if o.PatientPosition != "" {
		position = []string{o.PatientPosition}
	}
	str := func(t tag.Tag, vr string, v ...string) *dicom.Element { return elem(t, vr, v) }
	us := func(t tag.Tag, v int) *dicom.Element { return elem(t, "US", []int{v}) }
	ds := []*dicom.Element{
		// File meta group (PS3.10 7.1). The library adds the group length
		// and nothing else.
		elem(tag.FileMetaInformationVersion, "OB", []byte{0, 1}),
		str(tag.MediaStorageSOPClassUID, "UI", ctImageStorage),
		str(tag.TransferSyntaxUID, "UI", explicitVRLittleEndian),
		str(tag.ImplementationClassUID, "UI", implementationClassUID),
		str(tag.ImplementationVersionName, "SH", "CTRECON"),

		// SOP Common
		str(tag.SpecificCharacterSet, "CS", charset),
		str(tag.SOPClassUID, "UI", ctImageStorage),
		str(tag.InstanceCreationDate, "DA", formatDA(created)),
		str(tag.InstanceCreationTime, "TM", formatTM(created)),
		str(tag.TimezoneOffsetFromUTC, "SH", formatTZ(created)),
		// Patient (the names are among texts)
		str(tag.PatientBirthDate, "DA", birth),
		str(tag.PatientSex, "CS", st.PatientSex),
		// General Study
		str(tag.StudyInstanceUID, "UI", st.StudyInstanceUID),
		str(tag.StudyDate, "DA", studyDate),
		str(tag.StudyTime, "TM", formatTM(st.StudyTime)),
		// General Series
		str(tag.Modality, "CS", "CT"),
		str(tag.SeriesDate, "DA", formatDA(created)),
		str(tag.SeriesTime, "TM", formatTM(created)),
		elem(tag.PatientPosition, "CS", position),
		// Laterality is type 2C (paired body parts); validators cannot tell
		// the body part, so they want it present, and unknown is empty.
		// dciodvfy (2026) errs on it absent and warns of it empty (empty is
		// for a paired part of unknown side); R or L would be false, as a
		// scan names no body part, so the warning stays.
		elem(tag.Laterality, "CS", []string{}),
		// Frame of Reference
		str(tag.FrameOfReferenceUID, "UI", st.FrameOfReferenceUID),
		elem(tag.PositionReferenceIndicator, "LO", []string{}),
		// General Image
		str(tag.ContentDate, "DA", formatDA(created)),
		str(tag.ContentTime, "TM", formatTM(created)),
		str(tag.BurnedInAnnotation, "CS", "NO"),
		str(tag.LossyImageCompression, "CS", "00"),
		// Image Pixel
		us(tag.SamplesPerPixel, 1),
		str(tag.PhotometricInterpretation, "CS", "MONOCHROME2"),
		us(tag.BitsAllocated, 16),
		us(tag.BitsStored, 16),
		us(tag.HighBit, 15),
		us(tag.PixelRepresentation, 1),
		// CT Image
		elem(tag.KVP, "DS", kvp),
		str(tag.AcquisitionNumber, "IS", "1"),
	}
	if len(windows) > 0 {
		// VOI LUT
		ds = append(ds, str(tag.WindowCenter, "DS", centres...), str(tag.WindowWidth, "DS", widths...))
	}
	if o.SourceToDetector > 0 {
		ds = append(ds, str(tag.DistanceSourceToDetector, "DS", formatDS(o.SourceToDetector)))
	}
	if o.SourceToIsocentre > 0 {
		ds = append(ds, str(tag.DistanceSourceToPatient, "DS", formatDS(o.SourceToIsocentre)))
	}
	for _, x := range texts {
		if x.omitEmpty && len(x.vals) == 1 && x.vals[0] == "" {
			continue
		}
		vals := make([]string, len(x.vals))
		for i, v := range x.vals {
			vals[i] = v
			if charset == "ISO_IR 100" {
				vals[i] = toLatin1(v)
			}
		}
		ds = append(ds, elem(x.t, x.vr, vals))
	}
	return ds, nil
}
