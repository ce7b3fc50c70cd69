package httpapitest

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// uploadFile is a file a user uploads in the walks.
type uploadFile struct {
	declaredName string // as the client declares it
	shownName    string // as the API shows it
	contentType  string
	body         []byte
}

var (
	pngFile  = uploadFile{`C:\Users\ada\Pictures\holiday.png`, "holiday.png", "image/png", pngBody}
	pdfFile  = uploadFile{"quarterly report.pdf", "quarterly report.pdf", "application/pdf", pdfBody}
	textFile = uploadFile{"../../minutes.txt", "minutes.txt", "text/plain", textBody}
)

// uploadFlowCases walk the whole story the frontend tells.
func uploadFlowCases() []uploadCase {
	return []uploadCase{
		{"a clean PNG walks create, PUT, complete, scan, get, list, download and delete (cookie session)", walkClean(pngFile, false)},
		{"a clean PDF walks create, PUT, complete, scan, get, list, download and delete (bearer token)", walkClean(pdfFile, true)},
		{"a clean text file walks create, PUT, complete, scan, get, list, download and delete", walkClean(textFile, false)},
		{"the EICAR test file is rejected with the threat's name, its object removed, and it is never downloadable", walkEICAR},
		{"a file declared as PNG whose bytes are text is rejected as content_type_mismatch after a clean scan", contentTypeMismatch},
		{"complete is idempotent: again while scanning, or after the verdict, it answers the upload as it is", completeIdempotent},
	}
}

func walkClean(f uploadFile, bearer bool) func(t *testing.T, h *uploadHarness) {
	return func(t *testing.T, h *uploadHarness) {
		s := h.user("ada", bearer)
		if p := h.wantPage("list before any upload", h.list(s, "")); len(p.Items) != 0 || p.NextCursor != nil {
			t.Errorf("list before any upload: got %d items, next_cursor %v; want none and null", len(p.Items), p.NextCursor)
		}

		c := h.mustCreate(s, f.declaredName, f.contentType, f.body)
		id := c.Upload.ID
		if c.Upload.Filename != f.shownName {
			t.Errorf("create: got filename %q, want %q (cleaned for display)", c.Upload.Filename, f.shownName)
		}
		if diff := cmp.Diff(c.Upload, h.status(s, id)); diff != "" {
			t.Errorf("get after create: upload differs from create's (-create +get):\n%s", diff)
		}
		h.wantProblem("download while pending", h.download(s, id), http.StatusConflict, "upload_not_accepted")

		h.mustPut(c, f.body)
		scanning := h.mustComplete(s, id)
		if scanning.UpdatedAt.Before(c.Upload.UpdatedAt) {
			t.Errorf("complete: got updated_at %v, before create's %v", scanning.UpdatedAt, c.Upload.UpdatedAt)
		}
		h.wantProblem("download while scanning", h.download(s, id), http.StatusConflict, "upload_not_accepted")
		if obj := h.object(id); strings.Contains(obj.Key, strings.TrimSuffix(f.shownName, path.Ext(f.shownName))) {
			t.Errorf("object key %q contains the file name: keys must be the server's own", obj.Key)
		}
		h.wantEvents("before the scan", nil)

		h.scan(id, "NO_THREATS_FOUND")
		u := h.wantStatusOf("after a clean scan", s, id, "accepted")
		if u.Scan == nil {
			t.Fatalf("accepted upload: got scan null, want the clean result")
		}
		want := scanResult{Result: "NO_THREATS_FOUND", Threats: []string{}, CompletedAt: u.Scan.CompletedAt}
		if diff := cmp.Diff(want, *u.Scan); diff != "" {
			t.Errorf("accepted upload: scan (-want +got):\n%s", diff)
		}
		if u.Scan.CompletedAt.Before(scanning.UpdatedAt) || u.Scan.CompletedAt.After(u.UpdatedAt) {
			t.Errorf("accepted upload: got scan.completed_at %v, want between complete (%v) and updated_at (%v)", u.Scan.CompletedAt, scanning.UpdatedAt, u.UpdatedAt)
		}
		h.wantNoObject("after acceptance", id)
		h.wantEvents("after acceptance", []string{"upload.accepted " + id}, f.shownName)

		res := h.download(s, id)
		h.wantStatus("download", res, http.StatusOK)
		h.wantMembers("download", res.body, downloadMembers)
		var link presigned
		h.decode("download", res, &link)
		h.wantFuture("download: expires_at", link.ExpiresAt)
		got := h.sendTo(http.MethodGet, link.URL, nil, nil)
		if got.status != http.StatusOK || !bytes.Equal(got.body, f.body) {
			t.Fatalf("GET the download URL: got status %d and %d bytes, want 200 and the %d bytes uploaded", got.status, len(got.body), len(f.body))
		}
		if mt, _, err := mime.ParseMediaType(got.header.Get("Content-Type")); err != nil || mt != f.contentType {
			t.Errorf("GET the download URL: got Content-Type %q, want %s", got.header.Get("Content-Type"), f.contentType)
		}
		disp, params, err := mime.ParseMediaType(got.header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || params["filename"] != f.shownName {
			t.Errorf("GET the download URL: got Content-Disposition %q, want an attachment named %q", got.header.Get("Content-Disposition"), f.shownName)
		}

		page := h.wantPage("list", h.list(s, ""))
		if diff := cmp.Diff([]upload{u}, page.Items); diff != "" || page.NextCursor != nil {
			t.Errorf("list: items (-want +got):\n%s\nnext_cursor %v, want null", diff, page.NextCursor)
		}

		res = h.deleteUpload(s, id)
		h.wantStatus("delete", res, http.StatusNoContent)
		if len(res.body) != 0 {
			t.Errorf("delete: got body %q, want none", res.body)
		}
		h.wantProblem("get after delete", h.getUpload(s, id), http.StatusNotFound, "not_found")
		h.wantProblem("download after delete", h.download(s, id), http.StatusNotFound, "not_found")
		h.wantProblem("complete after delete", h.complete(s, id), http.StatusNotFound, "not_found")
		h.wantProblem("delete after delete", h.deleteUpload(s, id), http.StatusNotFound, "not_found")
		if p := h.wantPage("list after delete", h.list(s, "")); len(p.Items) != 0 {
			t.Errorf("list after delete: got %v, want no uploads", ids(p.Items))
		}
		if res := h.sendTo(http.MethodGet, link.URL, nil, nil); res.status/100 == 2 {
			t.Errorf("GET a download URL of a deleted upload: got status %d, want the file gone", res.status)
		}
	}
}

func walkEICAR(t *testing.T, h *uploadHarness) {
	s := h.user("eve", false)
	c := h.uploaded(s, "eicar.txt", "text/plain", eicar)
	id := c.Upload.ID
	h.scan(id, "THREATS_FOUND", eicarThreat)

	u := h.wantStatusOf("after THREATS_FOUND", s, id, "rejected")
	if u.Scan == nil {
		t.Fatalf("rejected upload: got scan null, want the threat")
	}
	if u.Scan.Result != "THREATS_FOUND" || u.Scan.Code != "threats_found" || !cmp.Equal(u.Scan.Threats, []string{eicarThreat}) || u.Scan.Reason == "" {
		t.Errorf("rejected upload: got scan %+v, want THREATS_FOUND, code threats_found, threats [%s] and a reason", *u.Scan, eicarThreat)
	}
	h.wantProblem("download of the rejected upload", h.download(s, id), http.StatusConflict, "upload_not_accepted")
	h.wantNoObject("after rejection", id)
	evs := h.wantEvents("after rejection", []string{"upload.rejected " + id}, "eicar.txt")
	if len(evs) == 1 && (evs[0].Code != "threats_found" || !cmp.Equal(evs[0].Threats, []string{eicarThreat})) {
		t.Errorf("upload.rejected: got code %q, threats %v; want threats_found and [%s]", evs[0].Code, evs[0].Threats, eicarThreat)
	}
	if got := h.wantUpload("complete after rejection", h.complete(s, id)); got.Status != "rejected" {
		t.Errorf("complete after rejection: got status %q, want rejected", got.Status)
	}

	h.wantStatus("delete the rejected upload", h.deleteUpload(s, id), http.StatusNoContent)
	h.wantProblem("get after delete", h.getUpload(s, id), http.StatusNotFound, "not_found")
}

func contentTypeMismatch(t *testing.T, h *uploadHarness) {
	s := h.user("grace", true)
	body := []byte("this is plain text, not a picture at all\n")
	c := h.mustCreate(s, "photo.png", "image/png", body)
	id := c.Upload.ID
	h.mustPut(c, body) // with Content-Type image/png, as the URL requires
	h.mustComplete(s, id)
	h.scan(id, "NO_THREATS_FOUND")

	u := h.wantStatusOf("after a clean scan of the mislabelled file", s, id, "rejected")
	if u.Scan == nil || u.Scan.Code != "content_type_mismatch" || u.Scan.Result != "NO_THREATS_FOUND" || len(u.Scan.Threats) != 0 || u.Scan.Reason == "" {
		t.Errorf("mislabelled file: got scan %+v, want NO_THREATS_FOUND, code content_type_mismatch, no threats and a reason", u.Scan)
	}
	h.wantProblem("download of the mislabelled file", h.download(s, id), http.StatusConflict, "upload_not_accepted")
	h.wantNoObject("after rejection", id)
	evs := h.wantEvents("after rejection", []string{"upload.rejected " + id}, "photo.png")
	if len(evs) == 1 && evs[0].Code != "content_type_mismatch" {
		t.Errorf("upload.rejected: got code %q, want content_type_mismatch", evs[0].Code)
	}
}

func completeIdempotent(t *testing.T, h *uploadHarness) {
	s := h.user("barbara", false)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	again := h.wantUpload("complete again while scanning", h.complete(s, id))
	if diff := cmp.Diff(c.Upload, again); diff != "" {
		t.Errorf("complete again while scanning: upload changed (-first +again):\n%s", diff)
	}
	h.scan(id, "NO_THREATS_FOUND")
	accepted := h.wantStatusOf("after the scan", s, id, "accepted")
	after := h.wantUpload("complete after acceptance", h.complete(s, id))
	if diff := cmp.Diff(accepted, after); diff != "" {
		t.Errorf("complete after acceptance: got another upload than GET's (-get +complete):\n%s", diff)
	}
	h.wantEvents("after completing three times", []string{"upload.accepted " + id})
}
