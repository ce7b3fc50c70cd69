package httpapitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
)

// uploadRefusalCases cover what the API and the presigned PUT refuse.
func uploadRefusalCases() []uploadCase {
	return []uploadCase{
		{"declarations the policy refuses are 422 with the rule's code, name every bad field, and create nothing", policyRefusals},
		{"complete before the file is PUT is 422 upload_mismatch and the upload stays pending", completeBeforePut},
		{"the presigned PUT refuses another length or content type, and complete then says upload_mismatch", putRefusals},
		{"with a sha256 declared, the presigned PUT accepts only those bytes", sha256Bound},
		{"download is 409 upload_not_accepted in every status but accepted", downloadBeforeAcceptance},
	}
}

func policyRefusals(t *testing.T, h *uploadHarness) {
	s := h.user("kurt", false)
	const maxSize = domain.DefaultUploadMaxSizeBytes
	cases := []struct {
		name      string
		body      any
		code      string
		locations []string
	}{
		{"a file over the size limit", newUpload{"big.pdf", "application/pdf", maxSize + 1, ""}, "file_too_large", []string{"body.size_bytes"}},
		{"a type not on the allowlist", newUpload{"archive.zip", "application/zip", 100, ""}, "content_type_not_allowed", []string{"body.content_type"}},
		{"an executable", newUpload{"setup.exe", "application/x-msdownload", 100, ""}, "content_type_not_allowed", []string{"body.content_type"}},
		{"HTML", newUpload{"page.html", "text/html", 100, ""}, "content_type_not_allowed", []string{"body.content_type"}},
		{"something that is not a media type", newUpload{"x.txt", "not a type", 100, ""}, "content_type_not_allowed", []string{"body.content_type"}},
		{"an empty file", newUpload{"empty.txt", "text/plain", 0, ""}, "invalid_upload", []string{"body.size_bytes"}},
		{"a negative size", newUpload{"minus.txt", "text/plain", -1, ""}, "invalid_upload", []string{"body.size_bytes"}},
		{"a malformed sha256", newUpload{"a.txt", "text/plain", 10, "not-hex"}, "invalid_upload", []string{"body.sha256"}},
		{"a short sha256", newUpload{"a.txt", "text/plain", 10, "abcd"}, "invalid_upload", []string{"body.sha256"}},
		{"an extension that contradicts the type", newUpload{"invoice.pdf.exe", "application/pdf", 100, ""}, "filename_type_mismatch", []string{"body.filename"}},
		{"two problems at once", newUpload{"archive.zip", "application/zip", maxSize + 1, ""}, "content_type_not_allowed", []string{"body.content_type", "body.size_bytes"}},
		{"no size", map[string]any{"filename": "a.txt", "content_type": "text/plain"}, "validation_failed", []string{"body"}},
		{"a size that is a string", map[string]any{"filename": "a.txt", "content_type": "text/plain", "size_bytes": "10"}, "validation_failed", []string{"body.size_bytes"}},
		{"a status of the client's choosing", map[string]any{"filename": "a.txt", "content_type": "text/plain", "size_bytes": 10, "status": "accepted"}, "validation_failed", []string{"body.status"}},
	}
	for _, tc := range cases {
		p := h.wantProblem(tc.name, h.create(s, tc.body), http.StatusUnprocessableEntity, tc.code)
		var locations []string
		for _, e := range p.Errors {
			locations = append(locations, e.Location)
		}
		if !cmp.Equal(locations, tc.locations) {
			t.Errorf("%s: got error locations %v, want %v", tc.name, locations, tc.locations)
		}
	}
	if p := h.wantPage("list after the refusals", h.list(s, "")); len(p.Items) != 0 {
		t.Errorf("list after the refusals: got %d uploads, want none", len(p.Items))
	}
	// The limit itself is allowed.
	res := h.create(s, newUpload{"largest.pdf", "application/pdf", maxSize, ""})
	h.wantCreated("a file of exactly the size limit", res, "application/pdf", maxSize)
}

func completeBeforePut(t *testing.T, h *uploadHarness) {
	s := h.user("edsger", true)
	c := h.mustCreate(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	h.wantProblem("complete before the PUT", h.complete(s, id), http.StatusUnprocessableEntity, "upload_mismatch")
	if diff := cmp.Diff(c.Upload, h.status(s, id)); diff != "" {
		t.Errorf("after the refused complete: upload changed (-created +now):\n%s", diff)
	}
	h.mustPut(c, textBody)
	h.mustComplete(s, id)
}

func putRefusals(t *testing.T, h *uploadHarness) {
	s := h.user("hedy", false)
	c := h.mustCreate(s, "pixel.png", "image/png", pngBody)
	id := c.Upload.ID
	with := func(name, value string) map[string]string {
		hd := maps.Clone(c.Put.Headers)
		for k := range hd {
			if strings.EqualFold(k, name) {
				delete(hd, k)
			}
		}
		if value != "" {
			hd[name] = value
		}
		return hd
	}
	refusals := []struct {
		name    string
		headers map[string]string
		body    []byte
	}{
		{"one byte fewer than declared", c.Put.Headers, pngBody[:len(pngBody)-1]},
		{"one byte more than declared", c.Put.Headers, append(bytes.Clone(pngBody), 0)},
		{"another Content-Type", with("Content-Type", "text/plain"), pngBody},
		{"no Content-Type", with("Content-Type", ""), pngBody},
	}
	for _, r := range refusals {
		if res := h.sendTo(c.Put.Method, c.Put.URL, r.headers, r.body); res.status/100 == 2 {
			t.Errorf("PUT with %s: got status %d, want a refusal", r.name, res.status)
		}
	}
	h.wantNoObject("after the refused PUTs", id)
	h.wantProblem("complete after the refused PUTs", h.complete(s, id), http.StatusUnprocessableEntity, "upload_mismatch")
	h.wantStatusOf("after the refused complete", s, id, "pending")

	h.mustPut(c, pngBody)
	h.mustComplete(s, id)
}

func sha256Bound(t *testing.T, h *uploadHarness) {
	s := h.user("john", true)
	sum := sha256.Sum256(textBody)
	res := h.create(s, newUpload{"notes.txt", "text/plain", int64(len(textBody)), hex.EncodeToString(sum[:])})
	c := h.wantCreated("create with sha256", res, "text/plain", len(textBody))
	other := bytes.ToUpper(textBody) // same length and type, other bytes
	if res := h.put(c, other); res.status/100 == 2 {
		t.Errorf("PUT of other bytes: got status %d, want a refusal", res.status)
	}
	h.wantNoObject("after the refused PUT", c.Upload.ID)
	h.mustPut(c, textBody)
	h.mustComplete(s, c.Upload.ID)
}

func downloadBeforeAcceptance(t *testing.T, h *uploadHarness) {
	s := h.user("alan", false)
	pending := h.mustCreate(s, "pending.txt", "text/plain", textBody)
	scanning := h.uploaded(s, "scanning.txt", "text/plain", textBody)
	rejected := h.uploaded(s, "eicar.txt", "text/plain", eicar)
	h.scan(rejected.Upload.ID, "THREATS_FOUND", eicarThreat)
	failed := h.uploaded(s, "failed.txt", "text/plain", textBody)
	h.scan(failed.Upload.ID, "FAILED")
	for status, id := range map[string]string{
		"pending": pending.Upload.ID, "scanning": scanning.Upload.ID, "rejected": rejected.Upload.ID, "failed": failed.Upload.ID,
	} {
		h.wantStatusOf(status, s, id, status)
		h.wantProblem("download while "+status, h.download(s, id), http.StatusConflict, "upload_not_accepted")
	}
}
