package preview

// patientAxes names the patient direction at the negative and positive end
// of each world axis of the reconstruction grid: patientAxes[k] = {at -k,
// at +k} for k = x, y, z. It is DICOM's patient frame (LPS: +x towards the
// patient's left, +y posterior, +z superior), which is how dicomio writes a
// series (ImageOrientationPatient 1\0\0\0\1\0, world positions as patient
// positions). Change it here, and only here, if the grid maps to the patient
// otherwise.
var patientAxes = [3][2]string{{"R", "L"}, {"A", "P"}, {"I", "S"}}

// axisNames are the world axes by index.
var axisNames = [3]string{"x", "y", "z"}

// A plane is a slice orientation: world axis h runs left to right across a
// panel, world axis v down it (up it when up is set).
type plane struct {
	name string
	h, v int
	up   bool
}

// normal returns the world axis perpendicular to the plane.
func (p plane) normal() int { return 3 - p.h - p.v }

// letters returns the orientation letters at the panel's left, right, top
// and bottom edges.
func (p plane) letters() (left, right, top, bottom string) {
	top, bottom = patientAxes[p.v][0], patientAxes[p.v][1]
	if p.up {
		top, bottom = bottom, top
	}
	return patientAxes[p.h][0], patientAxes[p.h][1], top, bottom
}

// The three planes of Render, left to right.
var (
	axial    = plane{name: "axial", h: 0, v: 1}
	coronal  = plane{name: "coronal", h: 0, v: 2, up: true}
	sagittal = plane{name: "sagittal", h: 1, v: 2, up: true}
)
