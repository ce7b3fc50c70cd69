package httpapitest

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// uploadVerdictCases cover the scanner's side: delivery is at least once,
// unordered, and about object versions.
func uploadVerdictCases() []uploadCase {
	return []uploadCase{
		{"a verdict delivered twice changes nothing the second time, nor does a late one of another kind", duplicateVerdict},
		{"malware found later in an accepted file rejects it and its download links stop working", lateMalware},
		{"a verdict before complete: a clean one is applied at complete, malware settles the upload at once", earlyVerdict},
		{"scans that cannot finish fail the upload with the reason, and it is never downloadable", failedScans},
		{"a clean verdict about a replacement PUT after complete is ignored; only the recorded version is accepted", replacedObject},
	}
}

func duplicateVerdict(t *testing.T, h *uploadHarness) {
	s := h.user("ken", false)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	obj := h.object(id)
	ev := h.scan(id, "NO_THREATS_FOUND")
	first := h.wantStatusOf("after the verdict", s, id, "accepted")

	h.env.Clock.Advance(time.Second) // a change would show in updated_at
	h.uenv.DeliverVerdict(t, ev)
	if diff := cmp.Diff(first, h.status(s, id)); diff != "" {
		t.Errorf("after the same verdict again: upload changed (-first +again):\n%s", diff)
	}
	h.uenv.DeliverVerdict(t, h.scanEvent(obj, "FAILED"))
	if diff := cmp.Diff(first, h.status(s, id)); diff != "" {
		t.Errorf("after a late FAILED verdict: upload changed (-first +late):\n%s", diff)
	}
	h.wantEvents("after three deliveries", []string{"upload.accepted " + id})
	h.wantStatus("download after the duplicates", h.download(s, id), http.StatusOK)
}

func lateMalware(t *testing.T, h *uploadHarness) {
	s := h.user("ritchie", true)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	obj := h.object(id)
	h.scan(id, "NO_THREATS_FOUND")
	h.wantStatusOf("after the clean verdict", s, id, "accepted")
	res := h.download(s, id)
	h.wantStatus("download while accepted", res, http.StatusOK)
	var link presigned
	h.decode("download while accepted", res, &link)

	h.uenv.DeliverVerdict(t, h.scanEvent(obj, "THREATS_FOUND", eicarThreat))
	u := h.wantStatusOf("after a rescan found malware", s, id, "rejected")
	if u.Scan == nil || u.Scan.Code != "threats_found" || !cmp.Equal(u.Scan.Threats, []string{eicarThreat}) {
		t.Errorf("after a rescan found malware: got scan %+v, want threats_found with [%s]", u.Scan, eicarThreat)
	}
	h.wantProblem("download after the rescan", h.download(s, id), http.StatusConflict, "upload_not_accepted")
	if got := h.sendTo(http.MethodGet, link.URL, nil, nil); got.status/100 == 2 {
		t.Errorf("GET a download URL issued before the rescan: got status %d, want the file gone", got.status)
	}
	h.wantEvents("after the rescan", []string{"upload.accepted " + id, "upload.rejected " + id})
}

func earlyVerdict(t *testing.T, h *uploadHarness) {
	s := h.user("dennis", false)

	clean := h.mustCreate(s, "early.txt", "text/plain", textBody)
	h.mustPut(clean, textBody)
	h.scan(clean.Upload.ID, "NO_THREATS_FOUND")
	h.wantStatusOf("a clean verdict before complete", s, clean.Upload.ID, "pending")
	u := h.wantUpload("complete after the clean verdict", h.complete(s, clean.Upload.ID))
	if u.Status != "accepted" {
		t.Errorf("complete after the clean verdict: got status %q, want accepted", u.Status)
	}
	res := h.download(s, clean.Upload.ID)
	h.wantStatus("download", res, http.StatusOK)
	var link presigned
	h.decode("download", res, &link)
	if got := h.sendTo(http.MethodGet, link.URL, nil, nil); !bytes.Equal(got.body, textBody) {
		t.Errorf("GET the download URL: got status %d, %q; want the uploaded bytes", got.status, got.body)
	}

	bad := h.mustCreate(s, "early-eicar.txt", "text/plain", eicar)
	h.mustPut(bad, eicar)
	h.scan(bad.Upload.ID, "THREATS_FOUND", eicarThreat)
	h.wantStatusOf("malware found before complete", s, bad.Upload.ID, "rejected")
	u = h.wantUpload("complete after the malware verdict", h.complete(s, bad.Upload.ID))
	if u.Status != "rejected" {
		t.Errorf("complete after the malware verdict: got status %q, want rejected", u.Status)
	}
	h.wantProblem("download of the rejected upload", h.download(s, bad.Upload.ID), http.StatusConflict, "upload_not_accepted")
	h.wantEvents("after both", []string{"upload.accepted " + clean.Upload.ID, "upload.rejected " + bad.Upload.ID})
}

func failedScans(t *testing.T, h *uploadHarness) {
	s := h.user("frances", true)
	cases := []struct{ result, code string }{
		{"UNSUPPORTED", "scan_unsupported"},
		{"ACCESS_DENIED", "scan_access_denied"},
		{"FAILED", "scan_failed"},
	}
	for _, tc := range cases {
		c := h.uploaded(s, "scan.pdf", "application/pdf", pdfBody)
		h.scan(c.Upload.ID, tc.result)
		u := h.wantStatusOf(tc.result, s, c.Upload.ID, "failed")
		if u.Scan == nil || u.Scan.Result != tc.result || u.Scan.Code != tc.code || u.Scan.Reason == "" || len(u.Scan.Threats) != 0 {
			t.Errorf("%s: got scan %+v, want result %s, code %s, a reason and no threats", tc.result, u.Scan, tc.result, tc.code)
		}
		h.wantProblem(tc.result+": download", h.download(s, c.Upload.ID), http.StatusConflict, "upload_not_accepted")
		h.wantNoObject(tc.result, c.Upload.ID)
	}
	h.wantEvents("after failed scans", nil)
}

func replacedObject(t *testing.T, h *uploadHarness) {
	s := h.user("margaret", false)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	recorded := h.object(id)

	// The URL is still valid: a second PUT of the same length and type
	// makes a new version, which GuardDuty scans separately.
	replacement := bytes.ToUpper(textBody)
	h.mustPut(c, replacement)
	newer := h.object(id)
	if newer == recorded {
		t.Fatalf("a second PUT left the same version %+v: the store must version objects", newer)
	}
	h.uenv.DeliverVerdict(t, h.scanEvent(newer, "NO_THREATS_FOUND"))
	h.wantStatusOf("a clean verdict about the replacement", s, id, "scanning")

	h.uenv.DeliverVerdict(t, h.scanEvent(recorded, "NO_THREATS_FOUND"))
	h.wantStatusOf("a clean verdict about the recorded version", s, id, "accepted")
	res := h.download(s, id)
	h.wantStatus("download", res, http.StatusOK)
	var link presigned
	h.decode("download", res, &link)
	if got := h.sendTo(http.MethodGet, link.URL, nil, nil); !bytes.Equal(got.body, textBody) {
		t.Errorf("GET the download URL: got %q, want the recorded version's bytes %q", got.body, textBody)
	}
}
