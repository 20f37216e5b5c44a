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

// header checks the study, bin, grid and options and returns the elements
// that every file of the series shares, and the Series to fill in.
func header(st Study, b Bin, g fdk.Grid, o Options) ([]*dicom.Element, Series, error) {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInput, field, fmt.Sprintf(format, args...))
	}
	switch {
	case !(b.MuWater > 0) || math.IsInf(b.MuWater, 1):
		return nil, Series{}, bad("Bin.MuWater", "%g: water's attenuation must be positive and finite (1/mm)", b.MuWater)
	case b.Index < 0:
		return nil, Series{}, bad("Bin.Index", "%d is negative", b.Index)
	case !(b.LowKeV >= 0) || math.IsInf(b.LowKeV, 1):
		return nil, Series{}, bad("Bin.LowKeV", "%g must be a non-negative energy", b.LowKeV)
	case !openBin(b) && !(b.HighKeV > b.LowKeV):
		return nil, Series{}, bad("Bin.HighKeV", "%g must exceed LowKeV %g (0 or +Inf for an open top bin)", b.HighKeV, b.LowKeV)
	case b.SeriesNumber < 0 || b.SeriesNumber > math.MaxInt32:
		return nil, Series{}, bad("Bin.SeriesNumber", "%d is not a series number", b.SeriesNumber)
	case !(o.KVP >= 0) || math.IsInf(o.KVP, 1):
		return nil, Series{}, bad("Options.KVP", "%g is not a voltage", o.KVP)
	case !(o.SourceToIsocentre >= 0) || math.IsInf(o.SourceToIsocentre, 1):
		return nil, Series{}, bad("Options.SourceToIsocentre", "%g is not a distance", o.SourceToIsocentre)
	case !(o.SourceToDetector >= 0) || math.IsInf(o.SourceToDetector, 1):
		return nil, Series{}, bad("Options.SourceToDetector", "%g is not a distance", o.SourceToDetector)
	}
	for field, u := range map[string]string{"Study.StudyInstanceUID": st.StudyInstanceUID, "Study.FrameOfReferenceUID": st.FrameOfReferenceUID} {
		if u == "" {
			return nil, Series{}, bad(field, "empty: make it once per study with NewUID so that every bin shares it")
		}
		if !validUID(u) {
			return nil, Series{}, bad(field, "%q is not a UID", u)
		}
	}
	s := Series{
		StudyInstanceUID:    st.StudyInstanceUID,
		SeriesInstanceUID:   b.SeriesInstanceUID,
		FrameOfReferenceUID: st.FrameOfReferenceUID,
		SeriesNumber:        b.SeriesNumber,
		Description:         description(b),
	}
	if s.SeriesInstanceUID == "" {
		s.SeriesInstanceUID = NewUID()
	} else if !validUID(s.SeriesInstanceUID) {
		return nil, Series{}, bad("Bin.SeriesInstanceUID", "%q is not a UID", s.SeriesInstanceUID)
	}
	if s.SeriesNumber == 0 {
		s.SeriesNumber = b.Index + 1
	}
	birth, err := parseDate(st.PatientBirthDate)
	if err != nil {
		return nil, Series{}, bad("Study.PatientBirthDate", "%v", err)
	}
	switch st.PatientSex {
	case "", "M", "F", "O":
	default:
		return nil, Series{}, bad("Study.PatientSex", "%q: DICOM allows M, F, O or empty", st.PatientSex)
	}
	switch o.PatientPosition {
	case "", "HFP", "HFS", "HFDR", "HFDL", "FFDR", "FFDL", "FFP", "FFS",
		"LFP", "LFS", "RFP", "RFS", "AFDR", "AFDL", "PFDR", "PFDL":
	default:
		return nil, Series{}, bad("Options.PatientPosition", "%q is not a DICOM patient position (HFS, FFS, ...)", o.PatientPosition)
	}
	windows := o.Windows
	if windows == nil {
		windows = DefaultWindows()
	}
	var centres, widths, explanations []string
	for i, w := range windows {
		if !finite(w.Center) || !(w.Width >= 1) || math.IsInf(w.Width, 1) {
			return nil, Series{}, bad(fmt.Sprintf("Options.Windows[%d]", i), "centre %g, width %g: the width must be at least 1 HU", w.Center, w.Width)
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
	comment := fmt.Sprintf("Energy bin %d, %s. HU = 1000 (mu - mu_water) / mu_water, mu_water = %s /mm.",
		b.Index, energyRange(b), formatDS(b.MuWater))
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
		{"SeriesDescription", tag.SeriesDescription, "LO", []string{s.Description}, false},
		{"ImageComments", tag.ImageComments, "LT", []string{comment}, false},
	}
	if len(windows) > 0 {
		texts = append(texts, text{"Options.Windows explanations", tag.WindowCenterWidthExplanation, "LO", explanations, false})
	}
	// ISO 8859-1 (ISO_IR 100) reads everywhere; names that need more, such
	// as Māori macrons, switch the series to UTF-8 (ISO_IR 192).
	charset := "ISO_IR 100"
	for _, x := range texts {
		for _, v := range x.vals {
			if err := checkText(x.vr, v); err != nil {
				return nil, Series{}, bad(x.field, "%v", err)
			}
			if !latin1(v) {
				charset = "ISO_IR 192"
			}
		}
	}

	dx, dy, dz := g.Spacing[0], g.Spacing[1], g.Spacing[2]
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
		str(tag.StudyDate, "DA", formatDA(st.StudyTime)),
		str(tag.StudyTime, "TM", formatTM(st.StudyTime)),
		// General Series
		str(tag.Modality, "CS", "CT"),
		str(tag.SeriesInstanceUID, "UI", s.SeriesInstanceUID),
		str(tag.SeriesNumber, "IS", strconv.Itoa(s.SeriesNumber)),
		str(tag.SeriesDate, "DA", formatDA(created)),
		str(tag.SeriesTime, "TM", formatTM(created)),
		elem(tag.PatientPosition, "CS", position),
		// Laterality is type 2C (paired body parts); validators cannot tell
		// the body part, so they want it present, and unknown is empty.
		elem(tag.Laterality, "CS", []string{}),
		// Frame of Reference
		str(tag.FrameOfReferenceUID, "UI", st.FrameOfReferenceUID),
		elem(tag.PositionReferenceIndicator, "LO", []string{}),
		// General Image
		str(tag.ImageType, "CS", "ORIGINAL", "PRIMARY", "AXIAL"),
		str(tag.ContentDate, "DA", formatDA(created)),
		str(tag.ContentTime, "TM", formatTM(created)),
		str(tag.BurnedInAnnotation, "CS", "NO"),
		str(tag.LossyImageCompression, "CS", "00"),
		// Image Plane
		str(tag.PixelSpacing, "DS", formatDS(dy), formatDS(dx)),
		str(tag.ImageOrientationPatient, "DS", "1", "0", "0", "0", "1", "0"),
		str(tag.SliceThickness, "DS", formatDS(dz)),
		str(tag.SpacingBetweenSlices, "DS", formatDS(dz)),
		// Image Pixel
		us(tag.SamplesPerPixel, 1),
		str(tag.PhotometricInterpretation, "CS", "MONOCHROME2"),
		us(tag.Rows, g.Dim[1]),
		us(tag.Columns, g.Dim[0]),
		us(tag.BitsAllocated, 16),
		us(tag.BitsStored, 16),
		us(tag.HighBit, 15),
		us(tag.PixelRepresentation, 1),
		// CT Image
		elem(tag.KVP, "DS", kvp),
		str(tag.AcquisitionNumber, "IS", "1"),
		str(tag.RescaleIntercept, "DS", formatDS(rescaleIntercept)),
		str(tag.RescaleSlope, "DS", formatDS(rescaleSlope)),
		str(tag.RescaleType, "LO", "HU"),
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
	return ds, s, nil
}
