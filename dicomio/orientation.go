package dicomio

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
)

// The world frame of a reconstruction (fdk's) is the scanner's: z along
// the rotation axis, pointing from the end of the bed into the gantry; y
// vertical, pointing down; x horizontal, to the right of someone at the end
// of the bed looking into the gantry (a right-handed frame). A patient
// lying head first and supine (HFS) has x, y and z as their left, posterior
// and superior: the DICOM patient frame (PS3.3 C.7.6.2.1.1) is the world
// frame. Other positions turn the patient in that frame, and patientAxes
// says where their axes go. A specimen or phantom (no PatientPosition) is
// written in the world frame as it is, as HFS would be.

// patientAxes gives, for each patient position ctrecon can place, the
// patient's left, posterior and superior axes as unit vectors of the world
// frame: the rows of the rotation from world to patient coordinates.
var patientAxes = map[string][3]fdk.Vec3{
	"":     {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	"HFS":  {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	"HFP":  {{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
	"FFS":  {{-1, 0, 0}, {0, 1, 0}, {0, 0, -1}},
	"FFP":  {{1, 0, 0}, {0, -1, 0}, {0, 0, -1}},
	"HFDR": {{0, -1, 0}, {1, 0, 0}, {0, 0, 1}},   // lying on the right side: left is up, back towards +x
	"HFDL": {{0, 1, 0}, {-1, 0, 0}, {0, 0, 1}},   // on the left side: left is down
	"FFDR": {{0, -1, 0}, {-1, 0, 0}, {0, 0, -1}}, // feet first, on the right side
	"FFDL": {{0, 1, 0}, {1, 0, 0}, {0, 0, -1}},
}

// CheckPatientPosition reports a PatientPosition whose patient frame
// ctrecon does not know: it places HFS, HFP, HFDR, HFDL, FFS, FFP, FFDR and
// FFDL (the empty position is a specimen).
func CheckPatientPosition(p string) error {
	if _, ok := patientAxes[p]; !ok {
		return fmt.Errorf("%q is not a patient position ctrecon places (HFS, HFP, HFDR, HFDL, FFS, FFP, FFDR, FFDL)", p)
	}
	return nil
}

// toPatient returns world point or direction w in the patient frame of
// position p, which CheckPatientPosition accepted.
func toPatient(p string, w fdk.Vec3) fdk.Vec3 {
	a := patientAxes[p]
	var out fdk.Vec3
	for i := range 3 {
		out[i] = a[i][0]*w[0] + a[i][1]*w[1] + a[i][2]*w[2]
	}
	return out
}
