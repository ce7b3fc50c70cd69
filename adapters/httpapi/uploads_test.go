package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/httpapi/httpapitest"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// newInmemUploadsEnv serves the real handler over loopback HTTP, wired with
// the in-memory stores (accounts, uploads and outbox in one unit of work),
// the given hasher, the in-memory object store (its presigned URLs served
// by a second loopback server) and a clock that moves only when told.
// Scan verdicts go the way the Lambda takes them: guardduty.Decode, then
// Uploads.HandleVerdict. Everything the server logs, at every level, is
// kept for the suite's leak check.
func newInmemUploadsEnv(t *testing.T, hasher ports.PasswordHasher) httpapitest.UploadsEnv {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := inmem.NewStore()
	uploadStore := inmem.NewUploadStore(store)
	clock := inmem.NewClock(time.Now().Truncate(time.Second))
	accounts, err := app.NewAccounts(app.AccountStores{
		Tx: store, Users: store, Tokens: store, Sessions: store, Limiter: store, Outbox: store,
	}, hasher, clock, app.AccountsConfig{
		AppBaseURL: frontendOrigin,
		Sessions:   domain.DefaultSessionPolicy(),
		Limits:     app.DefaultRateLimits(),
	}, log)
	if err != nil {
		t.Fatalf("NewAccounts: %v", err)
	}

	// The object store's URLs need its server's address, and the server
	// needs the store: listen first, serve once the store exists.
	objSrv := httptest.NewUnstartedServer(nil)
	objects := inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://" + objSrv.Listener.Addr().String(), Now: clock.Now})
	objSrv.Config.Handler = objects.Handler()
	objSrv.Start()
	t.Cleanup(objSrv.Close)

	ucfg := app.DefaultUploadsConfig()
	ucfg.Bucket = inmem.DefaultObjectBucket
	uploads, err := app.NewUploads(app.UploadStores{Tx: uploadStore, Uploads: uploadStore, Outbox: store}, objects, clock, ucfg, log)
	if err != nil {
		t.Fatalf("NewUploads: %v", err)
	}

	cfg := baseConfig()
	cfg.MaxBodyBytes = 1 << 20
	cfg.CORSOrigins = []string{frontendOrigin}
	reg := prometheus.NewRegistry()
	s, err := httpapi.New(cfg, log, nil, reg, reg, accounts, uploads)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return httpapitest.UploadsEnv{
		Env: httpapitest.Env{
			BaseURL:       srv.URL,
			Outbox:        store.OutboxMessages,
			Clock:         clock,
			AllowedOrigin: frontendOrigin,
			Logs:          logs.String,
		},
		QuarantineObject: func(t *testing.T, uploadID string) (httpapitest.ObjectRef, bool) {
			t.Helper()
			info, err := objects.Head(t.Context(), ucfg.QuarantinePrefix+uploadID, "")
			if domain.IsKind(err, domain.KindNotFound) {
				return httpapitest.ObjectRef{}, false
			} else if err != nil {
				t.Fatalf("Head of upload %s's object: %v", uploadID, err)
			}
			return httpapitest.ObjectRef{Bucket: info.Bucket, Key: info.Key, VersionID: info.VersionID, ETag: info.ETag}, true
		},
		DeliverVerdict: func(t *testing.T, event []byte) {
			t.Helper()
			v, err := guardduty.Decode(event)
			if err != nil {
				t.Fatalf("guardduty.Decode: %v\n%s", err, event)
			}
			if err := uploads.HandleVerdict(t.Context(), v); err != nil {
				t.Fatalf("HandleVerdict: %v", err)
			}
		},
	}
}

// TestUploadsContract runs the HTTP contract of the uploads API against the
// in-memory adapters, with scan verdicts delivered as GuardDuty events.
// Every case also checks that the server logged no password, token,
// cookie value or presigned URL it handled.
func TestUploadsContract(t *testing.T) {
	t.Parallel()
	httpapitest.RunUploads(t, func(t *testing.T) httpapitest.UploadsEnv {
		return newInmemUploadsEnv(t, cheapArgon2(t))
	})
}

// TestOpenAPIDescribesUploads checks the uploads part of the document for
// what the frontend relies on beyond the shapes: every operation needs a
// session, and the members that may be null say so while the lists do not.
func TestOpenAPIDescribesUploads(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	res := s.do(httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if res.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: got %d, want 200", res.Code)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
			Parameters  []struct {
				Name   string `json:"name"`
				Schema struct {
					Default any `json:"default"`
					Maximum any `json:"maximum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Type       any `json:"type"`
				Properties map[string]struct {
					Type any `json:"type"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	ops := []struct{ method, path, id string }{
		{"post", "/v1/uploads", "create-upload"},
		{"get", "/v1/uploads", "list-uploads"},
		{"get", "/v1/uploads/{id}", "get-upload"},
		{"delete", "/v1/uploads/{id}", "delete-upload"},
		{"post", "/v1/uploads/{id}/complete", "complete-upload"},
		{"get", "/v1/uploads/{id}/download", "download-upload"},
	}
	wantSecurity := []map[string][]string{{"sessionCookie": {}}, {"bearerToken": {}}}
	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			got, ok := doc.Paths[op.path][op.method]
			if !ok {
				t.Fatalf("no %s %s in the document", op.method, op.path)
			}
			if got.OperationID != op.id {
				t.Errorf("operationId: got %q, want %q", got.OperationID, op.id)
			}
			if diff := cmp.Diff(wantSecurity, got.Security); diff != "" {
				t.Errorf("security (-want +got):\n%s", diff)
			}
		})
	}
	// The list's documented bounds are the use cases' own.
	found := false
	for _, p := range doc.Paths["/v1/uploads"]["get"].Parameters {
		if p.Name != "limit" {
			continue
		}
		found = true
		if p.Schema.Default != float64(app.DefaultUploadPage) || p.Schema.Maximum != float64(ports.MaxUploadPage) {
			t.Errorf("limit: got default %v and maximum %v, want %d and %d", p.Schema.Default, p.Schema.Maximum, app.DefaultUploadPage, ports.MaxUploadPage)
		}
	}
	if !found {
		t.Errorf("GET /v1/uploads: no limit parameter in the document")
	}
	schemas := doc.Components.Schemas
	types := []struct {
		what string
		got  any
		want any
	}{
		{"ScanResult (Upload.scan)", schemas["ScanResult"].Type, []any{"object", "null"}},
		{"UploadList.next_cursor", schemas["UploadList"].Properties["next_cursor"].Type, []any{"string", "null"}},
		{"UploadList.items", schemas["UploadList"].Properties["items"].Type, "array"},
		{"ScanResult.threats", schemas["ScanResult"].Properties["threats"].Type, "array"},
		{"Upload", schemas["Upload"].Type, "object"},
	}
	for _, tc := range types {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s: type (-want +got):\n%s", tc.what, diff)
		}
	}
}
