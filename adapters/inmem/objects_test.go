package inmem_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// offsetClock is the real time plus an offset that tests can grow, so that
// presigned expiries stay comparable with time.Now.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// newObjectStore serves a fresh ObjectStore on 127.0.0.1.
func newObjectStore(t *testing.T) (*inmem.ObjectStore, *offsetClock, *http.Client) {
	t.Helper()
	clock := &offsetClock{}
	srv := httptest.NewUnstartedServer(nil)
	store := inmem.NewObjectStore(inmem.ObjectStoreConfig{
		BaseURL:        "http://" + srv.Listener.Addr().String(),
		UploadPrefix:   porttest.UploadPrefix,
		DownloadPrefix: porttest.DownloadPrefix,
		Now:            clock.Now,
	})
	srv.Config.Handler = store.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return store, clock, srv.Client()
}

func TestObjectStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunObjectStore(t, func(t *testing.T) porttest.ObjectStoreHarness {
		store, clock, client := newObjectStore(t)
		return porttest.ObjectStoreHarness{Store: store, Client: client, Advance: clock.Advance}
	})
}

func TestObjectStoreFailNext(t *testing.T) {
	t.Parallel()
	store, _, _ := newObjectStore(t)
	ctx := context.Background()
	info := store.Put(porttest.UploadPrefix+"a", "text/plain", []byte("hello"))
	store.FailNext(2, domain.KindUnavailable)
	calls := []struct {
		name     string
		call     func() error
		wantKind domain.Kind // ok: no error
	}{
		{"the first call fails with the queued kind", func() error { _, err := store.Head(ctx, info.Key, ""); return err }, domain.KindUnavailable},
		{"the second call fails too", func() error { _, err := store.ScanTag(ctx, info.Key, ""); return err }, domain.KindUnavailable},
		{"the third call succeeds", func() error { _, err := store.ReadLeading(ctx, info.Key, "", 2); return err }, ok},
	}
	for _, c := range calls {
		err := c.call()
		switch {
		case c.wantKind == ok && err != nil:
			t.Errorf("%s: got %v, want nil", c.name, err)
		case c.wantKind != ok && domain.KindOf(err) != c.wantKind:
			t.Errorf("%s: got %v (kind %v), want kind %v", c.name, err, domain.KindOf(err), c.wantKind)
		}
	}
}

func TestObjectStorePutIsAVersion(t *testing.T) {
	t.Parallel()
	store, _, _ := newObjectStore(t)
	ctx := context.Background()
	key := porttest.UploadPrefix + "seeded"
	v1 := store.Put(key, "image/png", []byte("\x89PNG one"))
	v2 := store.Put(key, "image/png", []byte("\x89PNG two"))
	cases := []struct {
		name, version, want string
	}{
		{"the first put is still readable by its version", v1.VersionID, "\x89PNG one"},
		{"the second put is the current version", "", "\x89PNG two"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.ReadLeading(ctx, key, tc.version, 100)
			if err != nil || string(got) != tc.want {
				t.Errorf("ReadLeading(%q): got %q, %v; want %q", tc.version, got, err, tc.want)
			}
		})
	}
	if v1.VersionID == v2.VersionID || v1.ETag == v2.ETag {
		t.Errorf("two puts: got versions %q/%q and ETags %q/%q, want both distinct", v1.VersionID, v2.VersionID, v1.ETag, v2.ETag)
	}
}

func TestNewObjectStoreRefusesOverlappingPrefixes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		upload, download string
	}{
		{"download inside upload", "uploads/", "uploads/accepted/"},
		{"upload inside download", "files/", "files/quarantine/"},
		{"a prefix without a trailing slash", "quarantine", "accepted/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("NewObjectStore(%q, %q): got no panic, want one", tc.upload, tc.download)
				}
			}()
			inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://127.0.0.1:1", UploadPrefix: tc.upload, DownloadPrefix: tc.download})
		})
	}
}

var _ ports.ObjectStore = (*inmem.ObjectStore)(nil)
