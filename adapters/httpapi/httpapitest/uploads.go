package httpapitest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
)

// UploadsEnv is one running server with empty storage, as RunUploads's
// newEnv returns it: Env's server with the uploads use cases wired too, and
// the two side doors the suite needs to stand in for the malware scanner.
//
// Besides Env's settings, the server must use the default upload policy
// (domain.DefaultUploadPolicy) and the default quarantine and accepted
// prefixes (app.DefaultUploadsConfig), and the object store's presigned
// URLs must be reachable from the test over loopback. The object store may
// keep real time (the suite never expires a presigned URL); its version ids
// and ETags must identify versions, as S3's do.
type UploadsEnv struct {
	Env
	// QuarantineObject reports the current version of the object stored
	// under the upload's key in the quarantine area (where the presigned
	// PUT writes), as the object store reports it; false when nothing is
	// stored there.
	QuarantineObject func(t *testing.T, uploadID string) (obj ObjectRef, ok bool)
	// DeliverVerdict hands the server one GuardDuty Malware Protection for
	// S3 "Object Scan Result" event, the raw EventBridge JSON that the
	// Lambda entry point receives, and returns once it has been handled. It
	// fails t when handling returns an error (the event would be delivered
	// again).
	DeliverVerdict func(t *testing.T, event []byte)
}

// ObjectRef names one version of a stored object, as a scan verdict does.
type ObjectRef struct {
	Bucket    string
	Key       string
	VersionID string
	ETag      string
}

// RunUploads runs the uploads contract: the walk from declaring a file to
// downloading or deleting it, and every refusal on the way, one subtest per
// rule, each on its own UploadsEnv from newEnv, in parallel. newEnv must
// register the server's cleanup with t.Cleanup.
func RunUploads(t *testing.T, newEnv func(t *testing.T) UploadsEnv) {
	t.Helper()
	for _, c := range uploadCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var env UploadsEnv
			h := start(t, func(t *testing.T) Env {
				env = newEnv(t)
				return env.Env
			})
			if env.QuarantineObject == nil || env.DeliverVerdict == nil {
				t.Fatalf("newEnv returned an incomplete UploadsEnv: QuarantineObject and DeliverVerdict are required")
			}
			c.run(t, &uploadHarness{harness: h, uenv: env})
		})
	}
}

// uploadCase is one rule of the uploads contract.
type uploadCase struct {
	name string
	run  func(t *testing.T, h *uploadHarness)
}

func uploadCases() []uploadCase {
	var cases []uploadCase
	cases = append(cases, uploadFlowCases()...)
	cases = append(cases, uploadVerdictCases()...)
	cases = append(cases, uploadRefusalCases()...)
	cases = append(cases, uploadAccessCases()...)
	return cases
}

// uploadHarness is the accounts harness plus the scanner's side doors.
type uploadHarness struct {
	*harness
	uenv UploadsEnv
}

// Bodies of files of each type the default policy allows, and the EICAR
// anti-virus test file, which every scanner reports as malware.
var (
	pngBody  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), bytes.Repeat([]byte{0}, 64)...)
	pdfBody  = []byte("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	textBody = []byte("Minutes of the meeting.\nAll present. Nothing to report.\n")
	eicar    = []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)
)

// eicarThreat is the name GuardDuty gives the EICAR test file.
const eicarThreat = "EICAR-Test-File (not a virus)"

// upload is the API's Upload.
type upload struct {
	ID          string      `json:"id"`
	Filename    string      `json:"filename"`
	ContentType string      `json:"content_type"`
	SizeBytes   int64       `json:"size_bytes"`
	Status      string      `json:"status"`
	Scan        *scanResult `json:"scan"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// scanResult is the API's scan member.
type scanResult struct {
	Result      string    `json:"result"`
	Code        string    `json:"code"`
	Threats     []string  `json:"threats"`
	Reason      string    `json:"reason"`
	CompletedAt time.Time `json:"completed_at"`
}

// presigned is the put member of a new upload, and a download link.
type presigned struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// created is a new upload as the API returned it.
type created struct {
	Upload upload
	Put    presigned
}

// The exact members of each shape.
var (
	uploadMembers     = []string{"content_type", "created_at", "filename", "id", "scan", "size_bytes", "status", "updated_at"}
	scanMembers       = []string{"code", "completed_at", "reason", "result", "threats"}
	putMembers        = []string{"expires_at", "headers", "method", "url"}
	downloadMembers   = []string{"expires_at", "url"}
	uploadListMembers = []string{"items", "next_cursor"}
	uploadStatuses    = []string{"pending", "scanning", "accepted", "rejected", "failed", "expired"}
)

// newUpload is the body of POST /v1/uploads.
type newUpload struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	SHA256      string `json:"sha256,omitempty"`
}

// user signs up a user named name, confirms the address and signs in, in
// cookie mode or with a bearer token.
func (h *uploadHarness) user(name string, bearer bool) session {
	h.t.Helper()
	addr, pass := name+"@example.com", name+"'s long passphrase"
	h.newUser(addr, pass)
	return h.startSession(addr, pass, bearer)
}

func uploadPath(id string, suffix ...string) string {
	return "/v1/uploads/" + url.PathEscape(id) + strings.Join(suffix, "")
}

// create declares an upload and returns the raw answer.
func (h *uploadHarness) create(s session, body any, opts ...reqOption) response {
	h.t.Helper()
	res := h.post("/v1/uploads", body, append([]reqOption{s.auth()}, opts...)...)
	if res.status == http.StatusCreated {
		var c struct {
			Put presigned `json:"put"`
		}
		if json.Unmarshal(res.body, &c) == nil {
			h.secrets.add(c.Put.URL) // a credential until it expires
		}
	}
	return res
}

// mustCreate declares an upload of body and checks the answer.
func (h *uploadHarness) mustCreate(s session, filename, contentType string, body []byte) created {
	h.t.Helper()
	res := h.create(s, newUpload{Filename: filename, ContentType: contentType, SizeBytes: int64(len(body))})
	return h.wantCreated("create "+filename, res, contentType, len(body))
}

// wantCreated checks the answer to a declaration that must succeed.
func (h *uploadHarness) wantCreated(what string, res response, contentType string, size int) created {
	h.t.Helper()
	h.wantStatus(what, res, http.StatusCreated)
	var raw struct {
		Upload json.RawMessage `json:"upload"`
		Put    json.RawMessage `json:"put"`
	}
	h.decode(what, res, &raw)
	h.wantMembers(what, res.body, []string{"put", "upload"})
	h.wantMembers(what+": put", raw.Put, putMembers)
	c := created{Upload: h.decodeUpload(what+": upload", raw.Upload)}
	if err := json.Unmarshal(raw.Put, &c.Put); err != nil {
		h.t.Fatalf("%s: decoding put %s: %v", what, raw.Put, err)
	}
	u := c.Upload
	if u.Status != "pending" || u.Scan != nil || u.ContentType != contentType || u.SizeBytes != int64(size) {
		h.t.Errorf("%s: got upload %+v, want pending, no scan, %s of %d bytes", what, u, contentType, size)
	}
	if got, want := res.header.Get("Location"), "/v1/uploads/"+u.ID; got != want {
		h.t.Errorf("%s: got Location %q, want %q", what, got, want)
	}
	p := c.Put
	if p.Method != http.MethodPut {
		h.t.Errorf("%s: got put.method %q, want PUT", what, p.Method)
	}
	if got := headerValue(p.Headers, "Content-Type"); got != contentType {
		h.t.Errorf("%s: got put.headers Content-Type %q, want the declared %q (headers %v)", what, got, contentType, p.Headers)
	}
	if pu, err := url.Parse(p.URL); err != nil || !pu.IsAbs() {
		h.t.Errorf("%s: got put.url %q, want an absolute URL", what, p.URL)
	}
	h.wantFuture(what+": put.expires_at", p.ExpiresAt)
	return c
}

// wantFuture fails the test unless at is a UTC time after now and at most
// a week away (the longest a presigned URL can live).
func (h *uploadHarness) wantFuture(what string, at time.Time) {
	h.t.Helper()
	now := h.env.Clock.Now()
	if !at.After(now) || at.After(now.Add(7*24*time.Hour)) || at.Location() != time.UTC {
		h.t.Errorf("%s: got %v, want a UTC time after now (%v) and within a week", what, at, now)
	}
}

// headerValue looks a header up in a presigned request's list, whatever
// the case of its name.
func headerValue(headers map[string]string, name string) string {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// wantMembers fails the test unless the JSON object body has exactly these
// members.
func (h *uploadHarness) wantMembers(what string, body []byte, want []string) {
	h.t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		h.t.Fatalf("%s: decoding %s: %v", what, body, err)
	}
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		h.t.Errorf("%s: members of %s (-want +got):\n%s", what, body, diff)
	}
}

// decodeUpload decodes one Upload and checks its shape: exactly the
// documented members, a known status, times in UTC, and a scan that is
// null or has every member with a list of threats.
func (h *uploadHarness) decodeUpload(what string, raw []byte) upload {
	h.t.Helper()
	h.wantMembers(what, raw, uploadMembers)
	var u upload
	if err := json.Unmarshal(raw, &u); err != nil {
		h.t.Fatalf("%s: decoding %s: %v", what, raw, err)
	}
	var m struct {
		Scan      json.RawMessage `json:"scan"`
		CreatedAt string          `json:"created_at"`
		UpdatedAt string          `json:"updated_at"`
	}
	_ = json.Unmarshal(raw, &m)
	if !slices.Contains(uploadStatuses, u.Status) {
		h.t.Errorf("%s: got status %q, want one of %v", what, u.Status, uploadStatuses)
	}
	if u.ID == "" || !strings.HasSuffix(m.CreatedAt, "Z") || !strings.HasSuffix(m.UpdatedAt, "Z") || u.UpdatedAt.Before(u.CreatedAt) {
		h.t.Errorf("%s: got id %q, created_at %q, updated_at %q; want an id and UTC times, updated no earlier than created", what, u.ID, m.CreatedAt, m.UpdatedAt)
	}
	if string(m.Scan) != "null" {
		h.wantMembers(what+": scan", m.Scan, scanMembers)
		var s struct {
			Threats     json.RawMessage `json:"threats"`
			CompletedAt string          `json:"completed_at"`
		}
		_ = json.Unmarshal(m.Scan, &s)
		if !strings.HasPrefix(string(s.Threats), "[") || !strings.HasSuffix(s.CompletedAt, "Z") {
			h.t.Errorf("%s: got scan %s, want threats as a list (never null) and completed_at in UTC", what, m.Scan)
		}
	}
	return u
}

// wantUpload fails the test unless the answer is 200 with an Upload, and
// returns it.
func (h *uploadHarness) wantUpload(what string, res response) upload {
	h.t.Helper()
	h.wantStatus(what, res, http.StatusOK)
	h.decode(what, res, &json.RawMessage{})
	return h.decodeUpload(what, res.body)
}

func (h *uploadHarness) complete(s session, id string, opts ...reqOption) response {
	h.t.Helper()
	return h.post(uploadPath(id, "/complete"), nil, append([]reqOption{s.auth()}, opts...)...)
}

func (h *uploadHarness) getUpload(s session, id string, opts ...reqOption) response {
	h.t.Helper()
	return h.get(uploadPath(id), append([]reqOption{s.auth()}, opts...)...)
}

func (h *uploadHarness) deleteUpload(s session, id string, opts ...reqOption) response {
	h.t.Helper()
	return h.do(http.MethodDelete, uploadPath(id), nil, append([]reqOption{s.auth()}, opts...)...)
}

func (h *uploadHarness) download(s session, id string, opts ...reqOption) response {
	h.t.Helper()
	res := h.get(uploadPath(id, "/download"), append([]reqOption{s.auth()}, opts...)...)
	if res.status == http.StatusOK {
		var d presigned
		if json.Unmarshal(res.body, &d) == nil {
			h.secrets.add(d.URL)
		}
	}
	return res
}

// status returns the upload's status as GET shows it.
func (h *uploadHarness) status(s session, id string) upload {
	h.t.Helper()
	return h.wantUpload("get "+id, h.getUpload(s, id))
}

// wantStatusOf fails the test unless GET shows the upload in status.
func (h *uploadHarness) wantStatusOf(what string, s session, id, status string) upload {
	h.t.Helper()
	u := h.status(s, id)
	if u.Status != status {
		h.t.Fatalf("%s: got status %q (scan %+v), want %q", what, u.Status, u.Scan, status)
	}
	return u
}

// sendTo sends a request to an absolute URL (the object store's presigned
// ones), with exactly the given headers and no credentials of the API.
func (h *uploadHarness) sendTo(method, rawURL string, headers map[string]string, body []byte) response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, rawURL, rd)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s to the presigned URL: %v", method, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s to the presigned URL: reading the body: %v", method, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// put sends body with the presigned PUT, with exactly its headers.
func (h *uploadHarness) put(c created, body []byte) response {
	h.t.Helper()
	return h.sendTo(c.Put.Method, c.Put.URL, c.Put.Headers, body)
}

// mustPut sends body with the presigned PUT and fails unless it is stored.
func (h *uploadHarness) mustPut(c created, body []byte) {
	h.t.Helper()
	if res := h.put(c, body); res.status/100 != 2 {
		h.t.Fatalf("PUT %s to the presigned URL: got status %d, want 2xx; body: %s", c.Upload.Filename, res.status, res.body)
	}
}

// mustComplete completes the upload and fails unless it is then scanning.
func (h *uploadHarness) mustComplete(s session, id string) upload {
	h.t.Helper()
	u := h.wantUpload("complete "+id, h.complete(s, id))
	if u.Status != "scanning" || u.Scan != nil {
		h.t.Fatalf("complete %s: got status %q, scan %+v, want scanning and no scan yet", id, u.Status, u.Scan)
	}
	return u
}

// uploaded declares, PUTs and completes a file, which is then scanning.
func (h *uploadHarness) uploaded(s session, filename, contentType string, body []byte) created {
	h.t.Helper()
	c := h.mustCreate(s, filename, contentType, body)
	h.mustPut(c, body)
	c.Upload = h.mustComplete(s, c.Upload.ID)
	return c
}

// object returns the object stored at the upload's quarantine key.
func (h *uploadHarness) object(id string) ObjectRef {
	h.t.Helper()
	obj, ok := h.uenv.QuarantineObject(h.t, id)
	if !ok {
		h.t.Fatalf("upload %s: no object at its quarantine key", id)
	}
	return obj
}

// wantNoObject fails the test if anything is left at the upload's
// quarantine key.
func (h *uploadHarness) wantNoObject(what, id string) {
	h.t.Helper()
	if obj, ok := h.uenv.QuarantineObject(h.t, id); ok {
		h.t.Errorf("%s: got an object at the quarantine key (%+v), want none", what, obj)
	}
}

// scanStatusOf is the scanStatus GuardDuty reports with each result.
var scanStatusOf = map[string]string{
	"NO_THREATS_FOUND": "COMPLETED",
	"THREATS_FOUND":    "COMPLETED",
	"UNSUPPORTED":      "SKIPPED",
	"ACCESS_DENIED":    "SKIPPED",
	"FAILED":           "FAILED",
}

// scanEvent is the EventBridge event GuardDuty Malware Protection for S3
// sends when it has scanned obj, as AWS documents it.
func (h *uploadHarness) scanEvent(obj ObjectRef, result string, threats ...string) []byte {
	h.t.Helper()
	type threat struct {
		Name string `json:"name"`
	}
	var ts []threat
	for _, name := range threats {
		ts = append(ts, threat{Name: name})
	}
	ev := map[string]any{
		"version":     "0",
		"id":          rand.Text(),
		"detail-type": "GuardDuty Malware Protection Object Scan Result",
		"source":      "aws.guardduty",
		"account":     "111122223333",
		"time":        h.env.Clock.Now().UTC().Format(time.RFC3339),
		"region":      "us-east-1",
		"resources":   []string{"arn:aws:guardduty:us-east-1:111122223333:malware-protection-plan/b4c7f464ab3a4EXAMPLE"},
		"detail": map[string]any{
			"schemaVersion": "1.0",
			"scanStatus":    scanStatusOf[result],
			"resourceType":  "S3_OBJECT",
			"s3ObjectDetails": map[string]any{
				"bucketName":  obj.Bucket,
				"objectKey":   obj.Key,
				"eTag":        obj.ETag,
				"versionId":   obj.VersionID,
				"s3Throttled": false,
			},
			"scanResultDetails": map[string]any{
				"scanResultStatus": result,
				"threats":          ts,
			},
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatalf("encoding a scan event: %v", err)
	}
	return b
}

// scan plays the scanner: it reports result about the object now stored
// for the upload, and returns the event it delivered.
func (h *uploadHarness) scan(id, result string, threats ...string) []byte {
	h.t.Helper()
	ev := h.scanEvent(h.object(id), result, threats...)
	h.uenv.DeliverVerdict(h.t, ev)
	return ev
}

// uploadEvent is an upload.* domain event from the outbox.
type uploadEvent struct {
	Type     string
	UploadID string
	Code     string
	Threats  []string
	Detail   string
}

// uploadEvents returns the upload events in the outbox, oldest first.
func (h *uploadHarness) uploadEvents() []uploadEvent {
	h.t.Helper()
	var out []uploadEvent
	for _, m := range h.env.Outbox() {
		if m.Kind != domain.OutboxEvent || !strings.HasPrefix(m.Topic, "upload.") {
			continue
		}
		var ev domain.Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			h.t.Fatalf("outbox message %s (%s): payload is not an event: %v", m.ID, m.Topic, err)
		}
		var d struct {
			UploadID string   `json:"upload_id"`
			Code     string   `json:"code"`
			Threats  []string `json:"threats"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			h.t.Fatalf("event %s (%s): detail is not JSON: %v", ev.ID, ev.Type, err)
		}
		out = append(out, uploadEvent{Type: ev.Type, UploadID: d.UploadID, Code: d.Code, Threats: d.Threats, Detail: string(ev.Detail)})
	}
	return out
}

// wantEvents fails the test unless the outbox holds exactly these upload
// events ("type upload_id"), in order, and none carries a file name.
func (h *uploadHarness) wantEvents(what string, want []string, filenames ...string) []uploadEvent {
	h.t.Helper()
	evs := h.uploadEvents()
	got := []string{}
	for _, ev := range evs {
		got = append(got, ev.Type+" "+ev.UploadID)
		for _, name := range filenames {
			if strings.Contains(ev.Detail, name) {
				h.t.Errorf("%s: event %s carries the file name %q: %s", what, ev.Type, name, ev.Detail)
			}
		}
	}
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		h.t.Errorf("%s: upload events in the outbox (-want +got):\n%s", what, diff)
	}
	return evs
}

// list fetches one page of uploads with the raw query.
func (h *uploadHarness) list(s session, query string) response {
	h.t.Helper()
	path := "/v1/uploads"
	if query != "" {
		path += "?" + query
	}
	return h.get(path, s.auth())
}

// uploadPage is a decoded page of the list.
type uploadPage struct {
	Items      []upload
	NextCursor *string
}

// wantPage fails the test unless the answer is a page of uploads.
func (h *uploadHarness) wantPage(what string, res response) uploadPage {
	h.t.Helper()
	h.wantStatus(what, res, http.StatusOK)
	var raw struct {
		Items      json.RawMessage `json:"items"`
		NextCursor *string         `json:"next_cursor"`
	}
	h.decode(what, res, &raw)
	h.wantMembers(what, res.body, uploadListMembers)
	var items []json.RawMessage
	if err := json.Unmarshal(raw.Items, &items); err != nil || items == nil {
		h.t.Fatalf("%s: got items %s, want a list (never null)", what, raw.Items)
	}
	p := uploadPage{Items: []upload{}, NextCursor: raw.NextCursor}
	for i, it := range items {
		p.Items = append(p.Items, h.decodeUpload(fmt.Sprintf("%s: item %d", what, i), it))
	}
	return p
}

// ids returns the ids of uploads.
func ids(us []upload) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}
