package httpapitest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unknownUploadID is a well-formed id that no upload has.
const unknownUploadID = "01890a5d-ac96-7a4b-bcce-b302099a8057"

// uploadAccessCases cover who sees which upload, and how lists page.
func uploadAccessCases() []uploadCase {
	return []uploadCase{
		{"another user's upload is 404 on get, complete, download and delete, answered exactly like an unknown id", otherUsersUpload},
		{"malformed ids are 404 not_found, never 400 or 422, and never reach another spelling of an id", malformedUploadIDs},
		{"the list runs newest first in pages joined by next_cursor, without duplicates or gaps, and drops deleted uploads", listPages},
		{"list limits outside 1 to 100 are 422 validation_failed and unknown cursors 422 invalid_cursor", listParams},
		{"every uploads operation needs a session", uploadsNeedSession},
		{"an expired session gets 401 session_expired on the user's own upload, and the cookie is cleared", uploadsExpiredSession},
		{"cross-origin unsafe upload requests from browsers are refused with 403 csrf_rejected", uploadsCSRF},
	}
}

// uploadOp is one operation on an upload by id.
type uploadOp struct {
	name string
	do   func(s session, id string, opts ...reqOption) response
}

func (h *uploadHarness) idOps() []uploadOp {
	return []uploadOp{
		{"get", func(s session, id string, opts ...reqOption) response { return h.getUpload(s, id, opts...) }},
		{"complete", func(s session, id string, opts ...reqOption) response { return h.complete(s, id, opts...) }},
		{"download", func(s session, id string, opts ...reqOption) response { return h.download(s, id, opts...) }},
		{"delete", func(s session, id string, opts ...reqOption) response { return h.deleteUpload(s, id, opts...) }},
	}
}

func otherUsersUpload(t *testing.T, h *uploadHarness) {
	alice := h.user("alice", false)
	bob := h.user("bob", true)
	accepted := h.uploaded(alice, "alice.txt", "text/plain", textBody)
	h.scan(accepted.Upload.ID, "NO_THREATS_FOUND")
	pending := h.mustCreate(alice, "alice-pending.txt", "text/plain", textBody)
	h.mustPut(pending, textBody)

	for _, id := range []string{accepted.Upload.ID, pending.Upload.ID} {
		for _, op := range h.idOps() {
			what := fmt.Sprintf("bob's %s of alice's upload %s", op.name, id)
			theirs := op.do(bob, id)
			h.wantProblem(what, theirs, http.StatusNotFound, "not_found")
			unknown := op.do(bob, unknownUploadID)
			h.wantProblem(op.name+" of an unknown id", unknown, http.StatusNotFound, "not_found")
			if diff := cmp.Diff(h.withoutRequestID(unknown), h.withoutRequestID(theirs)); diff != "" {
				t.Errorf("%s: body differs from an unknown id's (-unknown +theirs):\n%s", what, diff)
			}
			if diff := cmp.Diff(headerNames(unknown.header), headerNames(theirs.header)); diff != "" {
				t.Errorf("%s: header names differ from an unknown id's (-unknown +theirs):\n%s", what, diff)
			}
		}
	}
	if p := h.wantPage("bob's list", h.list(bob, "")); len(p.Items) != 0 {
		t.Errorf("bob's list: got %v, want none of alice's uploads", ids(p.Items))
	}
	h.wantStatusOf("alice's accepted upload after bob's attempts", alice, accepted.Upload.ID, "accepted")
	h.wantStatus("alice's download after bob's attempts", h.download(alice, accepted.Upload.ID), http.StatusOK)
	h.wantStatusOf("alice's pending upload after bob's attempts", alice, pending.Upload.ID, "pending")
	h.mustComplete(alice, pending.Upload.ID)
}

func malformedUploadIDs(t *testing.T, h *uploadHarness) {
	s := h.user("hedy", true)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	malformed := []string{
		"not-an-id",
		strings.ToUpper(id), // the same UUID, spelt differently
		"{" + id + "}",
		strings.ReplaceAll(id, "-", ""),
		id + "0",
		id[:35],
		"00000000-0000-0000-0000-00000000000g",
		"' OR '1'='1",
		"%00",
		"9223372036854775808",
	}
	for _, bad := range malformed {
		for _, op := range h.idOps() {
			h.wantProblem(fmt.Sprintf("%s of %q", op.name, bad), op.do(s, bad), http.StatusNotFound, "not_found")
		}
	}
	h.wantStatusOf("the upload after the malformed deletes", s, id, "scanning")
}

func listPages(t *testing.T, h *uploadHarness) {
	s := h.user("radia", false)
	other := h.user("whitfield", true)
	h.mustCreate(other, "not-radias.txt", "text/plain", textBody)
	var made []string // oldest first
	for i := range 5 {
		made = append(made, h.mustCreate(s, fmt.Sprintf("file-%d.txt", i+1), "text/plain", textBody).Upload.ID)
	}
	newestFirst := func() []string {
		out := slices.Clone(made)
		slices.Reverse(out)
		return out
	}

	// Pages of 2; an upload added after the first page shows on the first
	// page only, and does not shift the later ones.
	var got []string
	var cursors []string
	next := ""
	for i := 0; ; i++ {
		if i > len(made) {
			t.Fatalf("list: more pages than uploads; cursors %v", cursors)
		}
		q := "limit=2"
		if next != "" {
			q += "&cursor=" + url.QueryEscape(next)
		}
		p := h.wantPage(fmt.Sprintf("page %d", i+1), h.list(s, q))
		if len(p.Items) > 2 {
			t.Errorf("page %d: got %d items, want at most 2", i+1, len(p.Items))
		}
		got = append(got, ids(p.Items)...)
		if i == 0 {
			made = append(made, h.mustCreate(s, "late.txt", "text/plain", textBody).Upload.ID)
		}
		if p.NextCursor == nil {
			break
		}
		if *p.NextCursor == "" {
			t.Fatalf("page %d: got an empty next_cursor, want null or a cursor", i+1)
		}
		next = *p.NextCursor
		cursors = append(cursors, next)
	}
	want := newestFirst()[1:] // all but the late one
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages of 2 joined (-want +got):\n%s", diff)
	}
	if len(cursors) != 2 {
		t.Errorf("pages of 2 over 5 uploads: got %d next cursors, want 2 (three pages)", len(cursors))
	}

	all := h.wantPage("list without a limit", h.list(s, ""))
	if diff := cmp.Diff(newestFirst(), ids(all.Items)); diff != "" || all.NextCursor != nil {
		t.Errorf("list without a limit (-want +got):\n%s\nnext_cursor %v, want null", diff, all.NextCursor)
	}
	exact := h.wantPage("list with a limit of exactly the count", h.list(s, fmt.Sprintf("limit=%d", len(made))))
	if len(exact.Items) != len(made) || exact.NextCursor != nil {
		t.Errorf("list with limit=%d: got %d items and next_cursor %v, want all and null", len(made), len(exact.Items), exact.NextCursor)
	}

	h.wantStatus("delete one", h.deleteUpload(s, made[2]), http.StatusNoContent)
	made = slices.Delete(made, 2, 3)
	got = nil
	next = ""
	for page := 1; ; page++ {
		if page > 10 {
			t.Fatalf("list after delete: too many pages")
		}
		q := "limit=2"
		if next != "" {
			q += "&cursor=" + url.QueryEscape(next)
		}
		p := h.wantPage(fmt.Sprintf("page %d after delete", page), h.list(s, q))
		got = append(got, ids(p.Items)...)
		if p.NextCursor == nil {
			break
		}
		next = *p.NextCursor
	}
	if diff := cmp.Diff(newestFirst(), got); diff != "" {
		t.Errorf("pages after deleting one (-want +got):\n%s", diff)
	}
}

func listParams(t *testing.T, h *uploadHarness) {
	s := h.user("barbara", true)
	h.mustCreate(s, "one.txt", "text/plain", textBody)
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=ten"} {
		p := h.wantProblem("list with "+q, h.list(s, q), http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) != 1 || p.Errors[0].Location != "query.limit" {
			t.Errorf("list with %s: got errors %+v, want one at query.limit", q, p.Errors)
		}
	}
	for _, c := range []string{"garbage", "MTIzNDU", "bm90LmEtdXVpZA", strings.Repeat("A", 200)} {
		p := h.wantProblem("list with cursor "+c, h.list(s, "cursor="+url.QueryEscape(c)), http.StatusUnprocessableEntity, "invalid_cursor")
		if len(p.Errors) != 1 || p.Errors[0].Location != "query.cursor" {
			t.Errorf("list with cursor %s: got errors %+v, want one at query.cursor", c, p.Errors)
		}
	}
	if p := h.wantPage("list with limit=100", h.list(s, "limit=100")); len(p.Items) != 1 {
		t.Errorf("list with limit=100: got %d items, want 1", len(p.Items))
	}
	if p := h.wantPage("list with limit=1", h.list(s, "limit=1")); len(p.Items) != 1 || p.NextCursor != nil {
		t.Errorf("list with limit=1 over one upload: got %d items and next_cursor %v, want 1 and null", len(p.Items), p.NextCursor)
	}
}

func uploadsNeedSession(t *testing.T, h *uploadHarness) {
	s := h.user("alonzo", false)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	declare := newUpload{"notes.txt", "text/plain", int64(len(textBody)), ""}
	nobody := session{}
	badBearer := session{bearer: strings.Repeat("A", 43)}
	for _, who := range []struct {
		name string
		s    session
		code string
	}{{"no session", nobody, "unauthenticated"}, {"an unknown bearer token", badBearer, "invalid_session"}} {
		opts := []reqOption{}
		if who.s.bearer != "" {
			opts = append(opts, who.s.auth())
		}
		h.wantProblem("create with "+who.name, h.post("/v1/uploads", declare, opts...), http.StatusUnauthorized, who.code)
		h.wantProblem("list with "+who.name, h.get("/v1/uploads", opts...), http.StatusUnauthorized, who.code)
		h.wantProblem("get with "+who.name, h.get(uploadPath(id), opts...), http.StatusUnauthorized, who.code)
		h.wantProblem("complete with "+who.name, h.post(uploadPath(id, "/complete"), nil, opts...), http.StatusUnauthorized, who.code)
		h.wantProblem("download with "+who.name, h.get(uploadPath(id, "/download"), opts...), http.StatusUnauthorized, who.code)
		h.wantProblem("delete with "+who.name, h.do(http.MethodDelete, uploadPath(id), nil, opts...), http.StatusUnauthorized, who.code)
	}
	h.wantStatusOf("the upload after all that", s, id, "scanning")
	if p := h.wantPage("list after all that", h.list(s, "")); len(p.Items) != 1 {
		t.Errorf("list after all that: got %d uploads, want 1", len(p.Items))
	}
}

func uploadsExpiredSession(t *testing.T, h *uploadHarness) {
	s := h.user("grace", false)
	c := h.uploaded(s, "notes.txt", "text/plain", textBody)
	h.wantStatusOf("the upload while the session lives", s, c.Upload.ID, "scanning")
	h.env.Clock.Advance(s.expiresAt.Sub(h.env.Clock.Now()))
	for _, op := range h.idOps() {
		res := op.do(s, c.Upload.ID)
		h.wantProblem(op.name+" at expires_at", res, http.StatusUnauthorized, "session_expired")
		h.wantCookieCleared(op.name+" at expires_at", res)
	}
	for _, id := range []string{unknownUploadID, "not-an-id"} {
		res := h.getUpload(s, id)
		h.wantProblem("get of "+id+" at expires_at", res, http.StatusUnauthorized, "session_expired")
		h.wantCookieCleared("get of "+id+" at expires_at", res)
	}
}

func uploadsCSRF(t *testing.T, h *uploadHarness) {
	s := h.user("mallory-target", false)
	cross := []reqOption{withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", evilOrigin)}
	foreignOrigin := []reqOption{withHeader("Origin", evilOrigin)}
	declare := newUpload{"notes.txt", "text/plain", int64(len(textBody)), ""}

	h.wantProblem("cross-site create", h.create(s, declare, cross...), http.StatusForbidden, "csrf_rejected")
	h.wantProblem("create with a foreign Origin", h.create(s, declare, foreignOrigin...), http.StatusForbidden, "csrf_rejected")
	if p := h.wantPage("list after the refused creates", h.list(s, "")); len(p.Items) != 0 {
		t.Errorf("refused cross-site creates made %d uploads", len(p.Items))
	}

	c := h.mustCreate(s, "notes.txt", "text/plain", textBody)
	id := c.Upload.ID
	h.mustPut(c, textBody)
	h.wantProblem("cross-site complete", h.complete(s, id, cross...), http.StatusForbidden, "csrf_rejected")
	h.wantStatusOf("after the refused complete", s, id, "pending")
	h.wantProblem("cross-site delete", h.deleteUpload(s, id, cross...), http.StatusForbidden, "csrf_rejected")
	h.wantProblem("delete with a foreign Origin", h.deleteUpload(s, id, foreignOrigin...), http.StatusForbidden, "csrf_rejected")
	h.wantStatusOf("after the refused deletes", s, id, "pending")
	// Safe methods change nothing and are not refused (CORS keeps the
	// answer from a foreign page).
	h.wantStatus("cross-site get", h.getUpload(s, id, cross...), http.StatusOK)
	h.wantStatus("cross-site list", h.get("/v1/uploads", append(cross, s.auth())...), http.StatusOK)

	fromFrontend := []reqOption{withHeader("Sec-Fetch-Site", "same-site"), withHeader("Origin", h.env.AllowedOrigin)}
	if u := h.wantUpload("complete from the allowed origin", h.complete(s, id, fromFrontend...)); u.Status != "scanning" {
		t.Errorf("complete from the allowed origin: got status %q, want scanning", u.Status)
	}
	second := h.wantCreated("create from the allowed origin", h.create(s, declare, fromFrontend...), "text/plain", len(textBody))
	h.wantStatus("delete from the allowed origin", h.deleteUpload(s, second.Upload.ID, fromFrontend...), http.StatusNoContent)
	sameOrigin := []reqOption{withHeader("Sec-Fetch-Site", "same-origin"), withHeader("Origin", h.env.BaseURL)}
	h.wantStatus("delete from the API's own origin", h.deleteUpload(s, id, sameOrigin...), http.StatusNoContent)

	b := h.startSession("mallory-target@example.com", "mallory-target's long passphrase", true)
	third := h.mustCreate(b, "notes.txt", "text/plain", textBody)
	h.wantStatus("a bearer delete with a foreign Origin", h.deleteUpload(b, third.Upload.ID, cross...), http.StatusNoContent)
}
