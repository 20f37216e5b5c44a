package pacs

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSortAnswer feeds sortAnswer arbitrary STOW-RS answers and HTTP
// statuses for a batch of three instances, seeded with the answers a PACS
// gives (all stored, some failed, an HTML error page) and with the hostile
// ones in testdata/fuzz/FuzzSortAnswer. Properties: no panic; every
// instance comes out exactly once, stored or failed, in batch order; an
// instance counts as stored only when the status is a success (2xx, or
// 409, partly stored) and the answer's ReferencedSOPSequence lists its UID
// as a string, read here with a decoder of its own, and the
// FailedSOPSequence does not; every failure has a reason of valid UTF-8
// that fits a report line.
func FuzzSortAnswer(f *testing.F) {
	uids := []string{"1.2.3.0", "1.2.3.1", "1.2.3.2"}
	f.Add(uint16(200), []byte(referenced(uids, nil)))
	f.Add(uint16(409), []byte(referenced(uids, map[string]bool{"1.2.3.1": true})))
	f.Add(uint16(202), []byte(referenced(uids[:2], nil)))
	f.Add(uint16(500), []byte("<html>\n<body>Internal error</body></html>"))
	f.Fuzz(func(t *testing.T, status uint16, answer []byte) {
		var batch []Instance
		for i, u := range uids {
			batch = append(batch, Instance{Path: fmt.Sprintf("IM%d.dcm", i), SOPInstanceUID: u})
		}
		stored, failed := sortAnswer(batch, int(status), answer)
		if len(stored)+len(failed) != len(batch) {
			t.Fatalf("%d stored and %d failed of %d", len(stored), len(failed), len(batch))
		}
		referenced, refused := listedUIDs(answer)
		success := status >= 200 && status < 300 || status == 409
		s, fl := 0, 0
		for _, in := range batch {
			switch {
			case s < len(stored) && stored[s] == in:
				s++
				if !success || !referenced[in.SOPInstanceUID] || refused[in.SOPInstanceUID] {
					t.Fatalf("%s counted stored: HTTP %d, referenced %v, failed %v", in.SOPInstanceUID, status,
						referenced[in.SOPInstanceUID], refused[in.SOPInstanceUID])
				}
			case fl < len(failed) && failed[fl].Instance == in:
				if r := failed[fl].Reason; r == "" || !utf8.ValidString(r) || len(r) > 300 {
					t.Fatalf("%s failed with reason %q", in.SOPInstanceUID, r)
				}
				fl++
			default:
				t.Fatalf("%s is neither stored nor failed, or out of order", in.SOPInstanceUID)
			}
		}
	})
}

// listedUIDs reads the ReferencedSOPInstanceUIDs (0008,1155) of the
// ReferencedSOPSequence (0008,1199) and of the FailedSOPSequence
// (0008,1198) of a DICOM JSON answer, strings only.
func listedUIDs(answer []byte) (referenced, failed map[string]bool) {
	referenced, failed = map[string]bool{}, map[string]bool{}
	var doc map[string]any
	if json.Unmarshal(answer, &doc) != nil {
		return
	}
	for tag, set := range map[string]map[string]bool{"00081199": referenced, "00081198": failed} {
		seq, _ := doc[tag].(map[string]any)
		items, _ := seq["Value"].([]any)
		for _, it := range items {
			item, _ := it.(map[string]any)
			attr, _ := item["00081155"].(map[string]any)
			vals, _ := attr["Value"].([]any)
			if len(vals) > 0 {
				if uid, ok := vals[0].(string); ok {
					set[strings.TrimSpace(uid)] = true
				}
			}
		}
	}
	return
}
