package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// Bodies whose leading bytes are of a type.
var (
	pngBody  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0}, 40)...)
	textBody = []byte("hello, world\n")
	pdfBody  = []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
)

var uploadsStart = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// syncBuffer is a log sink tests can read while the service writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// uploadsEnv is the uploads service wired to in-memory adapters, with one
// signed-up owner and another user.
type uploadsEnv struct {
	t       *testing.T
	ctx     context.Context
	clock   *inmem.Clock
	store   *inmem.Store
	uploads *inmem.UploadStore
	objects *inmem.ObjectStore
	cfg     app.UploadsConfig
	svc     *app.Uploads
	logs    *syncBuffer
	owner   string
	other   string
}

func testUploadsConfig() app.UploadsConfig {
	cfg := app.DefaultUploadsConfig()
	cfg.Bucket = inmem.DefaultObjectBucket
	return cfg
}

func newUploadsEnv(t *testing.T, baseURL string) *uploadsEnv {
	t.Helper()
	if baseURL == "" {
		baseURL = "http://127.0.0.1:1"
	}
	e := &uploadsEnv{t: t, ctx: t.Context(), clock: inmem.NewClock(uploadsStart), store: inmem.NewStore(), cfg: testUploadsConfig(), logs: &syncBuffer{}}
	e.uploads = inmem.NewUploadStore(e.store)
	e.objects = inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: baseURL, Now: e.clock.Now})
	svc, err := app.NewUploads(app.UploadStores{Tx: e.uploads, Uploads: e.uploads, Outbox: e.store}, e.objects, e.clock, e.cfg,
		slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("NewUploads: %v", err)
	}
	e.svc = svc
	e.owner, e.other = e.user(), e.user()
	return e
}

func (e *uploadsEnv) user() string {
	e.t.Helper()
	id, err := domain.NewID(uploadsStart, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	email, err := domain.ParseEmail("u-" + id + "@example.com")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(e.ctx, domain.NewUser(id, email, "hash", uploadsStart)); err != nil {
		e.t.Fatalf("CreateUser: %v", err)
	}
	return id
}

// create declares an upload of body for the owner.
func (e *uploadsEnv) create(filename, contentType string, size int) domain.Upload {
	e.t.Helper()
	c, err := e.svc.Create(e.ctx, e.owner, app.NewUploadRequest{Filename: filename, ContentType: contentType, SizeBytes: int64(size)})
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return c.Upload
}

// put stores body at u's key as a client's PUT would, with u's type.
func (e *uploadsEnv) put(u domain.Upload, body []byte) ports.ObjectInfo {
	return e.objects.Put(u.Key, u.ContentType, body)
}

// completed creates, puts and completes an upload of body.
func (e *uploadsEnv) completed(filename, contentType string, body []byte) (domain.Upload, ports.ObjectInfo) {
	e.t.Helper()
	u := e.create(filename, contentType, len(body))
	info := e.put(u, body)
	got, err := e.svc.Complete(e.ctx, e.owner, u.ID)
	if err != nil {
		e.t.Fatalf("Complete: %v", err)
	}
	if got.Status != domain.UploadScanning {
		e.t.Fatalf("after Complete: got status %q, want scanning", got.Status)
	}
	return got, info
}

// verdict is GuardDuty's verdict about the object version info.
func verdict(info ports.ObjectInfo, result string, threats ...string) domain.ScanVerdict {
	status := "COMPLETED"
	switch result {
	case domain.ScanUnsupported, domain.ScanAccessDenied:
		status = "SKIPPED"
	case domain.ScanFailed:
		status = "FAILED"
	}
	return domain.ScanVerdict{Bucket: info.Bucket, Key: info.Key, VersionID: info.VersionID, ETag: info.ETag,
		ScanStatus: status, Result: result, Threats: threats}
}

func (e *uploadsEnv) handle(v domain.ScanVerdict) {
	e.t.Helper()
	if err := e.svc.HandleVerdict(e.ctx, v); err != nil {
		e.t.Fatalf("HandleVerdict: got error %v, want nil", err)
	}
}

// get returns the owner's upload, as stored.
func (e *uploadsEnv) get(id string) domain.Upload {
	e.t.Helper()
	u, err := e.uploads.UploadByID(e.ctx, id, e.owner)
	if err != nil {
		e.t.Fatalf("UploadByID: %v", err)
	}
	return u
}

// wantStatus fails the test unless the upload has the status.
func (e *uploadsEnv) wantStatus(id string, want domain.UploadStatus) domain.Upload {
	e.t.Helper()
	u := e.get(id)
	if u.Status != want {
		e.t.Errorf("status: got %q, want %q", u.Status, want)
	}
	return u
}

// exists reports whether any version of key is stored.
func (e *uploadsEnv) exists(key string) bool {
	e.t.Helper()
	_, err := e.objects.Head(context.Background(), key, "")
	switch {
	case err == nil:
		return true
	case domain.IsKind(err, domain.KindNotFound):
		return false
	}
	e.t.Fatalf("Head(%q): %v", key, err)
	return false
}

func acceptedKey(u domain.Upload) string { return "accepted/" + u.ID }

// wantObjects fails the test unless the quarantine and accepted objects of
// u exist as said.
func (e *uploadsEnv) wantObjects(u domain.Upload, quarantine, accepted bool) {
	e.t.Helper()
	if got := e.exists(u.Key); got != quarantine {
		e.t.Errorf("quarantine object exists: got %v, want %v", got, quarantine)
	}
	if got := e.exists(acceptedKey(u)); got != accepted {
		e.t.Errorf("accepted object exists: got %v, want %v", got, accepted)
	}
}

// uploadEventDetail is what upload.accepted and upload.rejected carry.
type uploadEventDetail struct {
	UploadID string   `json:"upload_id"`
	OwnerID  string   `json:"owner_id"`
	Status   string   `json:"status"`
	Result   string   `json:"result"`
	Code     string   `json:"code"`
	Threats  []string `json:"threats"`
}

// events returns the upload events in the outbox, in order, as "type
// upload_id code".
func (e *uploadsEnv) events() []string {
	e.t.Helper()
	out := []string{}
	for _, m := range e.store.OutboxMessages() {
		var ev domain.Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			e.t.Fatalf("outbox payload: %v", err)
		}
		var d uploadEventDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			e.t.Fatalf("event detail: %v", err)
		}
		if m.Kind != domain.OutboxEvent || m.Topic != ev.Type || ev.ID != m.ID {
			e.t.Errorf("outbox message %+v does not wrap its event %+v", m, ev)
		}
		if d.OwnerID != e.owner {
			e.t.Errorf("event owner: got %q, want %q", d.OwnerID, e.owner)
		}
		out = append(out, strings.TrimSpace(ev.Type+" "+d.UploadID+" "+d.Code+" "+strings.Join(d.Threats, ",")))
	}
	return out
}
