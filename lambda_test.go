package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/adapters/s3/s3local"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// The bucket and credentials of the local S3 the Lambda tests run against.
const (
	lambdaBucket   = "gatehouse-lambda-test"
	lambdaRegion   = "eu-west-1"
	lambdaKeyID    = "AKIDGATEHOUSELAMBDA"
	lambdaSecret   = "gatehouse/lambda/test/secret"
	lambdaFileBody = "scan me, then accept me\n"
)

// verdictWorld is the uploads service on a fresh, migrated database and an
// object store, with one user who owns the uploads: what a test needs to
// create uploads the way clients do and to look at their state afterwards.
type verdictWorld struct {
	db      config.DB
	bdb     *bun.DB
	store   *postgres.Store
	objects ports.ObjectStore
	uploads *app.Uploads
	owner   string
	logs    *syncBuffer
	// put stores the bytes of a created upload, as the client's presigned
	// PUT does.
	put func(tb testing.TB, c app.CreatedUpload, body []byte)
}

func newVerdictWorld(tb testing.TB, objects ports.ObjectStore, put func(testing.TB, app.CreatedUpload, []byte)) *verdictWorld {
	tb.Helper()
	w := &verdictWorld{db: pgtest.NewDB(tb), objects: objects, put: put, logs: &syncBuffer{}}
	bdb, err := postgres.Open(context.Background(), w.db.DatabaseURL(), 8)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bdb.Close() })
	w.bdb, w.store = bdb, postgres.NewStore(bdb)
	cfg := app.DefaultUploadsConfig()
	cfg.Bucket = lambdaBucket
	w.uploads, err = app.NewUploads(app.UploadStores{Tx: w.store, Uploads: w.store, Outbox: w.store}, objects, systemClock{}, cfg,
		slog.New(slog.NewJSONHandler(w.logs, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	w.owner, err = domain.NewID(now, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	email, err := domain.ParseEmail("owner-" + w.owner + "@example.com")
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.store.CreateUser(context.Background(), domain.NewUser(w.owner, email, "not-a-real-hash", now)); err != nil {
		tb.Fatal(err)
	}
	return w
}

// scanning creates an upload of body, puts its bytes and completes it: the
// state in which GuardDuty's verdict is due.
func (w *verdictWorld) scanning(tb testing.TB, body string) domain.Upload {
	tb.Helper()
	ctx := context.Background()
	c, err := w.uploads.Create(ctx, w.owner, app.NewUploadRequest{Filename: "notes.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	w.put(tb, c, []byte(body))
	u, err := w.uploads.Complete(ctx, w.owner, c.Upload.ID)
	if err != nil {
		tb.Fatalf("Complete: %v", err)
	}
	if u.Status != domain.UploadScanning || u.VersionID == "" || u.ETag == "" {
		tb.Fatalf("after Complete: status %q, version %q, ETag %q; want scanning with both recorded", u.Status, u.VersionID, u.ETag)
	}
	return u
}

// upload reads the upload as stored.
// reconnect replaces the world's database handle and store (not the
// uploads service built on the first store) with a fresh connection pool.
func (w *verdictWorld) reconnect(tb testing.TB) {
	tb.Helper()
	bdb, err := postgres.Open(context.Background(), w.db.DatabaseURL(), 2)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bdb.Close() })
	w.bdb, w.store = bdb, postgres.NewStore(bdb)
}

func (w *verdictWorld) upload(tb testing.TB, id string) domain.Upload {
	tb.Helper()
	u, err := w.store.UploadByID(context.Background(), id, w.owner)
	if err != nil {
		tb.Fatalf("UploadByID: %v", err)
	}
	return u
}

// topics lists the topics of the outbox rows, in order.
func (w *verdictWorld) topics(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range readOutbox(t, w.bdb) {
		out = append(out, m.Topic)
	}
	return out
}

// scanResult reads a GuardDuty fixture and rewrites it to be about the
// object version u recorded at complete, as GuardDuty would report it (the
// ETag without quotes).
func scanResult(tb testing.TB, fixture string, u domain.Upload) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("adapters", "guardduty", "testdata", fixture+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		tb.Fatal(err)
	}
	obj := ev["detail"].(map[string]any)["s3ObjectDetails"].(map[string]any)
	obj["bucketName"], obj["objectKey"], obj["eTag"], obj["versionId"] = u.Bucket, u.Key, domain.NormalizeETag(u.ETag), u.VersionID
	out, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// s3World is a verdictWorld over the real S3 adapter and a local S3 server
// on 127.0.0.1, with the environment that points gatehouse at both.
type s3World struct {
	*verdictWorld
	s3URL string
	env   map[string]string
	mail  *mailStandIn
	bus   *busStandIn
}

func newS3World(t *testing.T) *s3World {
	t.Helper()
	srv, err := s3local.New(s3local.Config{Buckets: []string{lambdaBucket}, Region: lambdaRegion,
		Credentials: aws.Credentials{AccessKeyID: lambdaKeyID, SecretAccessKey: lambdaSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	objects, err := s3.New(context.Background(), s3.Config{
		Bucket: lambdaBucket, Region: lambdaRegion, Endpoint: ts.URL, UsePathStyle: true,
		UploadPrefix: "quarantine/", DownloadPrefix: "accepted/",
		Credentials:      credentials.NewStaticCredentialsProvider(lambdaKeyID, lambdaSecret, ""),
		RetryMaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &s3World{verdictWorld: newVerdictWorld(t, objects, presignedPut), s3URL: ts.URL, mail: newMailStandIn(t), bus: newBusStandIn(t)}
	w.env = envFor(w.db)
	for k, v := range map[string]string{
		"S3_BUCKET":         lambdaBucket,
		"S3_ENDPOINT":       ts.URL,
		"S3_USE_PATH_STYLE": "true",
		"AWS_REGION":        lambdaRegion,
		// Static credentials end the SDK's credentials chain before it
		// would ask an instance metadata service; nothing leaves loopback.
		"AWS_ACCESS_KEY_ID":           lambdaKeyID,
		"AWS_SECRET_ACCESS_KEY":       lambdaSecret,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_ENDPOINT_URL":            w.bus.srv.URL,
		"RESEND_BASE_URL":             w.mail.srv.URL,
		"DB_MAX_CONNS":                "2",
		"LOG_LEVEL":                   "info",
		"HOME":                        t.TempDir(),
	} {
		w.env[k] = v
	}
	return w
}

// presignedPut sends the body to the upload's presigned PUT, as a browser
// would.
func presignedPut(tb testing.TB, c app.CreatedUpload, body []byte) {
	tb.Helper()
	req, err := http.NewRequest(c.Put.Method, c.Put.URL, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range c.Put.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		tb.Fatalf("presigned PUT: %d %s", resp.StatusCode, msg)
	}
}

// objectGone reports whether no version of key is left.
func (w *s3World) objectGone(t *testing.T, key string) bool {
	t.Helper()
	_, err := w.objects.Head(context.Background(), key, "")
	if err != nil && !domain.IsKind(err, domain.KindNotFound) {
		t.Fatalf("Head %s: %v", key, err)
	}
	return err != nil
}

// busStandIn answers EventBridge's PutEvents on 127.0.0.1 and records the
// detail type of every entry it accepts.
type busStandIn struct {
	srv   *httptest.Server
	mu    sync.Mutex
	types []string
}

func newBusStandIn(t *testing.T) *busStandIn {
	t.Helper()
	b := &busStandIn{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Entries []struct{ DetailType string } }
		if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"UnknownOperationException","message":"unexpected request"}`)
			return
		}
		type result struct{ EventId string }
		resp := struct {
			FailedEntryCount int
			Entries          []result
		}{}
		b.mu.Lock()
		for _, e := range req.Entries {
			b.types = append(b.types, e.DetailType)
			resp.Entries = append(resp.Entries, result{EventId: "eb-" + strconv.Itoa(len(b.types))})
		}
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *busStandIn) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.types)
}

// buildGatehouse compiles this package into dir, as a Lambda deployment
// package's bootstrap.
func buildGatehouse(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// rieBin returns the Runtime Interface Emulator the Makefile built from
// tools/rie.
func rieBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GATEHOUSE_RIE_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("GATEHOUSE_RIE_BIN is not set: CI must run the tests via make test, which builds the Lambda Runtime Interface Emulator")
		}
		t.Skip("run via make test, which builds the Lambda Runtime Interface Emulator")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("GATEHOUSE_RIE_BIN: %v", err)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lambdaFunction is one Lambda execution environment: the emulator, which
// starts the function's process on the first invocation.
type lambdaFunction struct {
	invokeURL string
	out       *syncBuffer // the emulator's output, the function's included
}

// startFunction runs the emulator on free loopback ports with env as the
// function's whole environment; the function is bin with args.
func startFunction(t *testing.T, rie, bin string, env map[string]string, args ...string) *lambdaFunction {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(rie, append([]string{"--runtime-interface-emulator-address", addr, "--runtime-api-address", freeAddr(t), bin}, args...)...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = filepath.Dir(bin)
	f := &lambdaFunction{invokeURL: "http://" + addr + "/2015-03-31/functions/function/invocations", out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// On SIGTERM the emulator stops the function's process, then
		// itself.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("emulator output:\n%s", f.out)
		}
	})
	waitUntil(t, "the emulator to listen on "+addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("the emulator exited:\n%s", f.out)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return f
}

// invocation is what the emulator answered to one invocation.
type invocation struct {
	status int
	body   []byte
	// outcome and errorType come from the body: the function's result or
	// the error it failed with.
	outcome, reason, errorType string
}

func (f *lambdaFunction) invoke(t *testing.T, payload []byte) invocation {
	t.Helper()
	resp, err := http.Post(f.invokeURL, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	inv := invocation{status: resp.StatusCode, body: body}
	var res struct {
		lambdaResponse
		messages.InvokeResponse_Error
	}
	_ = json.Unmarshal(body, &res)
	inv.outcome, inv.reason, inv.errorType = res.Outcome, res.Reason, res.Type
	return inv
}

// TestLambdaUnderRIE runs the gatehouse binary as a Lambda function under the
// AWS Lambda Runtime Interface Emulator, against real PostgreSQL and a local
// S3, and invokes it with GuardDuty's scan result events (the fixtures,
// rewritten to be about the test's object), scheduler ticks and events of
// other kinds.
func TestLambdaUnderRIE(t *testing.T) {
	t.Parallel()
	rie := rieBin(t)
	bin := buildGatehouse(t, t.TempDir())

	t.Run("verdicts settle uploads", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			fixture    string
			wantStatus domain.UploadStatus
			wantScan   domain.ScanResult // but CompletedAt and Reason
			wantTopics []string
		}{
			{"no-threats-found", domain.UploadAccepted, domain.ScanResult{Result: domain.ScanNoThreatsFound}, []string{app.EventUploadAccepted}},
			{"threats-found", domain.UploadRejected, domain.ScanResult{Result: domain.ScanThreatsFound, Code: domain.CodeThreatsFound,
				Threats: []string{"EICAR-Test-File (not a virus)"}}, []string{app.EventUploadRejected}},
			{"unsupported", domain.UploadFailed, domain.ScanResult{Result: domain.ScanUnsupported, Code: domain.CodeScanUnsupported}, nil},
			{"access-denied", domain.UploadFailed, domain.ScanResult{Result: domain.ScanAccessDenied, Code: domain.CodeScanAccessDenied}, nil},
			{"failed", domain.UploadFailed, domain.ScanResult{Result: domain.ScanFailed, Code: domain.CodeScanFailed}, nil},
		}
		// One execution environment handles every case, one invocation at
		// a time, as Lambda reuses a warm one; each case has its own
		// upload in a shared database.
		w := newS3World(t)
		fn := startFunction(t, rie, bin, w.env) // as a bootstrap: no arguments
		for _, tc := range cases {
			t.Run(tc.fixture, func(t *testing.T) {
				u := w.scanning(t, lambdaFileBody)
				before := w.topics(t)
				event := scanResult(t, tc.fixture, u)

				inv := fn.invoke(t, event)
				if inv.status != http.StatusOK || inv.outcome != lambdaHandled {
					t.Fatalf("invocation: got %d %s, want 200 with outcome %q", inv.status, inv.body, lambdaHandled)
				}
				got := w.upload(t, u.ID)
				if got.Status != tc.wantStatus {
					t.Fatalf("status: got %q, want %q", got.Status, tc.wantStatus)
				}
				if got.Scan == nil {
					t.Fatal("scan result: got nil")
				}
				if d := cmp.Diff(*got.Scan, tc.wantScan, cmpIgnore("CompletedAt", "Reason")); d != "" {
					t.Errorf("scan result (-got +want):\n%s", d)
				}
				if d := cmp.Diff(w.topics(t)[len(before):], tc.wantTopics, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("outbox rows written (-got +want):\n%s", d)
				}
				if !w.objectGone(t, u.Key) {
					t.Errorf("the quarantine object %s is still there", u.Key)
				}
				accepted := "accepted/" + u.ID
				if tc.wantStatus == domain.UploadAccepted {
					b, err := w.objects.ReadLeading(context.Background(), accepted, "", len(lambdaFileBody))
					if err != nil || string(b) != lambdaFileBody {
						t.Errorf("accepted copy: got %q, %v; want the uploaded bytes", b, err)
					}
				} else if !w.objectGone(t, accepted) {
					t.Errorf("a %s upload has an accepted copy", got.Status)
				}

				// The same event again is a no-op: nothing is stored, no
				// event is written.
				inv = fn.invoke(t, event)
				if inv.status != http.StatusOK || inv.outcome != lambdaHandled {
					t.Fatalf("second invocation: got %d %s, want 200 with outcome %q", inv.status, inv.body, lambdaHandled)
				}
				if d := cmp.Diff(w.upload(t, u.ID), got); d != "" {
					t.Errorf("the second delivery changed the upload (-after +before):\n%s", d)
				}
				if d := cmp.Diff(w.topics(t)[len(before):], tc.wantTopics, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("outbox rows after the second delivery (-got +want):\n%s", d)
				}
			})
		}
		if logs := fn.out.String(); strings.Contains(logs, lambdaSecret) || strings.Contains(logs, w.db.AppPassword.Reveal()) {
			t.Errorf("the function's output holds a secret:\n%s", logs)
		}
	})

	t.Run("ten concurrent deliveries change the upload once", func(t *testing.T) {
		t.Parallel()
		const n = 10
		w := newS3World(t)
		// Lambda runs concurrent invocations in separate execution
		// environments: one emulator each, all warmed up (their
		// processes started and connected) before the deliveries race.
		fns := make([]*lambdaFunction, n)
		for i := range fns {
			fns[i] = startFunction(t, rie, bin, w.env, "lambda")
			if inv := fns[i].invoke(t, []byte(`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`)); inv.outcome != lambdaIgnored {
				t.Fatalf("warm-up %d: got %d %s, want the event ignored", i, inv.status, inv.body)
			}
		}
		u := w.scanning(t, lambdaFileBody)
		event := scanResult(t, "no-threats-found", u)
		start := make(chan struct{})
		results := make([]invocation, n)
		var wg sync.WaitGroup
		for i, fn := range fns {
			wg.Go(func() {
				<-start
				results[i] = fn.invoke(t, event)
			})
		}
		close(start)
		wg.Wait()
		for i, inv := range results {
			if inv.status != http.StatusOK || inv.outcome != lambdaHandled {
				t.Errorf("delivery %d: got %d %s, want 200 with outcome %q", i, inv.status, inv.body, lambdaHandled)
			}
		}
		got := w.upload(t, u.ID)
		if got.Status != domain.UploadAccepted {
			t.Fatalf("status: got %q, want accepted", got.Status)
		}
		if d := cmp.Diff(w.topics(t), []string{app.EventUploadAccepted}); d != "" {
			t.Errorf("outbox rows (-got +want):\n%s", d)
		}
		if !w.objectGone(t, u.Key) {
			t.Errorf("the quarantine object %s is still there", u.Key)
		}
		if b, err := w.objects.ReadLeading(context.Background(), "accepted/"+u.ID, "", len(lambdaFileBody)); err != nil || string(b) != lambdaFileBody {
			t.Errorf("accepted copy: got %q, %v; want the uploaded bytes", b, err)
		}
		// And one more delivery still changes nothing.
		if inv := fns[0].invoke(t, event); inv.outcome != lambdaHandled {
			t.Fatalf("eleventh delivery: got %d %s", inv.status, inv.body)
		}
		if d := cmp.Diff(w.upload(t, u.ID), got); d != "" {
			t.Errorf("a later delivery changed the upload (-after +before):\n%s", d)
		}
	})

	t.Run("foreign and malformed events are acknowledged and change nothing", func(t *testing.T) {
		t.Parallel()
		w := newS3World(t)
		fn := startFunction(t, rie, bin, w.env, "lambda")
		u := w.scanning(t, lambdaFileBody)
		noDetails := map[string]any{}
		_ = json.Unmarshal(scanResult(t, "no-threats-found", u), &noDetails)
		delete(noDetails, "detail")
		noDetailsJSON, _ := json.Marshal(noDetails)
		cases := []struct {
			name       string
			payload    string
			wantReason string
		}{
			{"an S3 event", `{"version":"0","id":"e1","source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"` + lambdaBucket + `"}}}`, "foreign_event"},
			{"a GuardDuty finding", `{"version":"0","id":"e2","source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{}}`, "foreign_event"},
			{"a scan result without its detail", string(noDetailsJSON), "malformed_event"},
			{"a JSON string", `"hello"`, "malformed_event"},
			{"an empty object", `{}`, "foreign_event"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				inv := fn.invoke(t, []byte(tc.payload))
				if inv.status != http.StatusOK || inv.outcome != lambdaIgnored || inv.reason != tc.wantReason {
					t.Errorf("got %d %s, want 200 with outcome %q and reason %q", inv.status, inv.body, lambdaIgnored, tc.wantReason)
				}
			})
		}
		if got := w.upload(t, u.ID); got.Status != domain.UploadScanning || !cmp.Equal(got.UpdatedAt, u.UpdatedAt) {
			t.Errorf("upload after foreign events: status %q updated %v; want it untouched (scanning, %v)", got.Status, got.UpdatedAt, u.UpdatedAt)
		}
		if got := w.topics(t); len(got) != 0 {
			t.Errorf("outbox rows: got %v, want none", got)
		}
		if w.objectGone(t, u.Key) {
			t.Error("the quarantine object was removed")
		}
	})

	t.Run("a database outage fails the invocation so that it is delivered again", func(t *testing.T) {
		t.Parallel()
		w := newS3World(t)
		fn := startFunction(t, rie, bin, w.env)
		u := w.scanning(t, lambdaFileBody)
		event := scanResult(t, "no-threats-found", u)
		if inv := fn.invoke(t, []byte(`{"source":"aws.s3"}`)); inv.outcome != lambdaIgnored { // start the function
			t.Fatalf("warm-up: got %d %s", inv.status, inv.body)
		}

		restore := hideDatabase(t, w.db.Name)
		inv := fn.invoke(t, event)
		if inv.errorType != "gatehouse.unavailable" {
			t.Errorf("during the outage: got %d %s, want the invocation failed with errorType gatehouse.unavailable", inv.status, inv.body)
		}
		if strings.Contains(string(inv.body), w.db.Name) || strings.Contains(string(inv.body), "127.0.0.1") {
			t.Errorf("the invocation error shows internals: %s", inv.body)
		}
		restore()
		// The test's own connections died with the outage too (and have
		// been idle for less than the second after which the pool pings
		// one before use): read through fresh ones.
		w.reconnect(t)

		// Lambda's retries. The function's pool may still hold a
		// connection the outage closed: the first use of it fails, as
		// unavailable too, and the next retry gets a fresh one.
		for attempt := 1; ; attempt++ {
			inv = fn.invoke(t, event)
			if inv.status == http.StatusOK && inv.outcome == lambdaHandled {
				break
			}
			if inv.errorType != "gatehouse.unavailable" || attempt == 3 {
				t.Fatalf("retry %d after the outage: got %d %s, want 200 with outcome %q", attempt, inv.status, inv.body, lambdaHandled)
			}
		}
		if got := w.upload(t, u.ID); got.Status != domain.UploadAccepted {
			t.Errorf("status after the retry: got %q, want accepted", got.Status)
		}
		if d := cmp.Diff(w.topics(t), []string{app.EventUploadAccepted}); d != "" {
			t.Errorf("outbox rows (-got +want):\n%s", d)
		}
	})

	t.Run("a scheduler tick sweeps the outbox and reconciles", func(t *testing.T) {
		t.Parallel()
		w := newS3World(t)
		fn := startFunction(t, rie, bin, w.env)
		ctx := context.Background()
		// An upload whose verdict event was lost: its object carries
		// GuardDuty's tag, and it has waited longer than
		// UPLOAD_SCAN_STALE_AFTER.
		u := w.scanning(t, lambdaFileBody)
		if err := w.objects.SetScanTag(ctx, u.Key, u.VersionID, domain.ScanNoThreatsFound); err != nil {
			t.Fatal(err)
		}
		if _, err := w.bdb.ExecContext(ctx, `UPDATE uploads SET updated_at = now() - interval '1 hour' WHERE id = ?`, u.ID); err != nil {
			t.Fatal(err)
		}
		mails := enqueueMail(t, w.db, 1)

		// EventBridge Scheduler's notification when the schedule sets no
		// input.
		inv := fn.invoke(t, []byte(`{"version":"0","id":"37666ae6-48cf-4285-b4c6-a3320b38824a","detail-type":"Scheduled Event","source":"aws.scheduler",`+
			`"account":"111122223333","time":"2026-06-13T12:30:00Z","region":"eu-west-1","resources":["arn:aws:scheduler:eu-west-1:111122223333:schedule/default/gatehouse-tick"],"detail":"{}"}`))
		if inv.status != http.StatusOK || inv.outcome != lambdaTicked {
			t.Fatalf("first tick: got %d %s, want 200 with outcome %q", inv.status, inv.body, lambdaTicked)
		}
		var res lambdaResponse
		if err := json.Unmarshal(inv.body, &res); err != nil {
			t.Fatal(err)
		}
		want := lambdaResponse{Outcome: lambdaTicked, Outbox: &lambdaOutbox{Claimed: 1, Sent: 1}, Reconcile: &lambdaReconcile{Settled: 1}}
		if d := cmp.Diff(res, want); d != "" {
			t.Errorf("first tick's report (-got +want):\n%s", d)
		}
		if d := cmp.Diff(w.mail.received(), mails); d != "" {
			t.Errorf("mail sent by the sweep (-got +want):\n%s", d)
		}
		if got := w.upload(t, u.ID); got.Status != domain.UploadAccepted {
			t.Errorf("the stale upload: got %q, want accepted by the reconciler", got.Status)
		}

		// The event of that acceptance went to the outbox after the
		// sweep: the next tick (the documented custom input) delivers it.
		inv = fn.invoke(t, []byte(strings.ReplaceAll(lambdaTickInput, "<aws.scheduler.scheduled-time>", "2026-06-13T12:31:00Z")))
		if inv.status != http.StatusOK || inv.outcome != lambdaTicked {
			t.Fatalf("second tick: got %d %s, want 200 with outcome %q", inv.status, inv.body, lambdaTicked)
		}
		if d := cmp.Diff(w.bus.received(), []string{app.EventUploadAccepted}); d != "" {
			t.Errorf("events put on the bus (-got +want):\n%s", d)
		}
	})
}

// cmpIgnore ignores the named fields of domain.ScanResult.
func cmpIgnore(fields ...string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && slices.Contains(fields, sf.Name())
	}, cmp.Ignore())
}

// hideDatabase makes the database unreachable, as an outage would: its
// connections are closed and it is renamed, so new ones are refused
// ("database does not exist"). The function it returns brings it back.
func hideDatabase(t *testing.T, name string) (restore func()) {
	t.Helper()
	admin, err := sql.Open("pgx", pgtest.AdminURL(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	away := name + "_away"
	rename := func(from, to string) {
		t.Helper()
		waitUntil(t, "renaming database "+from, func() bool {
			_, _ = admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, from)
			_, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %q RENAME TO %q`, from, to))
			return err == nil
		})
	}
	rename(name, away)
	restored := false
	t.Cleanup(func() {
		if !restored {
			rename(away, name)
		}
	})
	return func() { rename(away, name); restored = true }
}

// TestLambdaRefusesToRunOutsideLambda: `gatehouse lambda` needs the Runtime
// API; started by hand it says so instead of hanging.
func TestLambdaRefusesToRunOutsideLambda(t *testing.T) {
	t.Parallel()
	_, _, err := runCmd(t, map[string]string{}, "lambda")
	if err == nil || !strings.Contains(err.Error(), lambdaRuntimeAPIEnv) || exitCode(err) != 1 {
		t.Fatalf("lambda without %s: got %v (exit %d), want an error naming it (exit 1)", lambdaRuntimeAPIEnv, err, exitCode(err))
	}
	if _, _, err := runCmd(t, map[string]string{lambdaRuntimeAPIEnv: "127.0.0.1:1"}, "lambda", "extra"); exitCode(err) != 2 {
		t.Errorf("lambda extra: got %v (exit %d), want a usage error", err, exitCode(err))
	}
}

// TestLambdaIsChosenAsABootstrap: run with no arguments and the Runtime API
// set, the binary is the Lambda function (here it stops at the missing
// configuration, before it would contact the Runtime API).
func TestLambdaIsChosenAsABootstrap(t *testing.T) {
	t.Parallel()
	_, stderr, err := runCmd(t, map[string]string{lambdaRuntimeAPIEnv: "127.0.0.1:1"})
	var ve *config.ValidationError
	if !errors.As(err, &ve) || exitCode(err) != 1 {
		t.Fatalf("no arguments under Lambda: got %v (exit %d), stderr %q; want the Lambda's configuration error", err, exitCode(err), stderr)
	}
	if strings.Contains(stderr, "usage:") {
		t.Errorf("printed the usage: %q", stderr)
	}
}

// newInProcessWorld is a verdictWorld over an in-memory object store, with
// the Lambda handler in this process: for what the emulator cannot arrange
// (an object store outage) and for measuring.
func newInProcessWorld(tb testing.TB) (*verdictWorld, *inmem.ObjectStore, *lambdaHandler) {
	tb.Helper()
	objects := inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://127.0.0.1:1", Bucket: lambdaBucket,
		UploadPrefix: "quarantine/", DownloadPrefix: "accepted/"})
	w := newVerdictWorld(tb, objects, func(_ testing.TB, c app.CreatedUpload, body []byte) {
		objects.Put(c.Upload.Key, c.Upload.ContentType, body)
	})
	log := slog.New(slog.NewJSONHandler(w.logs, nil))
	d, err := app.NewDispatcher(app.DispatcherPorts{Queue: postgres.NewOutboxQueue(w.bdb), Mailer: inmem.NewMailer(),
		Events: inmem.NewEventPublisher(), Clock: systemClock{}}, app.DefaultDispatcherConfig(), log)
	if err != nil {
		tb.Fatal(err)
	}
	return w, objects, newLambdaHandler(w.uploads, d, log)
}

// TestLambdaHandlerInProcess drives the handler directly, through the
// runtime library's handler wrapper, on real PostgreSQL.
func TestLambdaHandlerInProcess(t *testing.T) {
	t.Parallel()
	w, objects, h := newInProcessWorld(t)
	ctx := context.Background()
	invoke := func(t *testing.T, payload []byte) (lambdaResponse, error) {
		t.Helper()
		out, err := h.Invoke(ctx, payload)
		var res lambdaResponse
		if err == nil {
			if jerr := json.Unmarshal(out, &res); jerr != nil {
				t.Fatalf("response %q: %v", out, jerr)
			}
		}
		return res, err
	}

	t.Run("an object store outage fails the invocation, and the retry applies the verdict", func(t *testing.T) {
		u := w.scanning(t, lambdaFileBody)
		event := scanResult(t, "no-threats-found", u)
		objects.FailNext(1, domain.KindUnavailable)
		_, err := invoke(t, event)
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) || ie.Type != "gatehouse.unavailable" {
			t.Fatalf("during the outage: got %v, want an invocation error of type gatehouse.unavailable", err)
		}
		if got := w.upload(t, u.ID); got.Status != domain.UploadScanning {
			t.Fatalf("during the outage: status %q, want scanning", got.Status)
		}
		res, err := invoke(t, event)
		if err != nil || res.Outcome != lambdaHandled {
			t.Fatalf("retry: got %+v, %v; want handled", res, err)
		}
		if got := w.upload(t, u.ID); got.Status != domain.UploadAccepted {
			t.Errorf("after the retry: status %q, want accepted", got.Status)
		}
	})

	t.Run("events are told apart", func(t *testing.T) {
		u := w.scanning(t, lambdaFileBody)
		otherBucket := strings.Replace(string(scanResult(t, "threats-found", u)), lambdaBucket, "someone-elses-bucket", 1)
		cases := []struct {
			name    string
			payload string
			want    lambdaResponse
		}{
			{"not JSON", `not json at all`, lambdaResponse{Outcome: lambdaIgnored, Reason: "malformed_event"}},
			{"a JSON array", `[1,2]`, lambdaResponse{Outcome: lambdaIgnored, Reason: "malformed_event"}},
			{"a source of the wrong type", `{"source":5,"detail-type":"Object Created"}`, lambdaResponse{Outcome: lambdaIgnored, Reason: "malformed_event"}},
			{"a verdict about another bucket", otherBucket, lambdaResponse{Outcome: lambdaHandled}},
			// The tick delivers the upload.accepted event of the
			// previous subtest.
			{"an EventBridge scheduled rule", `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`,
				lambdaResponse{Outcome: lambdaTicked, Outbox: &lambdaOutbox{Claimed: 1, Sent: 1}, Reconcile: &lambdaReconcile{}}},
			{"another gatehouse input", `{"gatehouse":"something-else"}`, lambdaResponse{Outcome: lambdaIgnored, Reason: "foreign_event"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := invoke(t, []byte(tc.payload))
				if err != nil {
					t.Fatalf("got error %v, want %+v", err, tc.want)
				}
				if d := cmp.Diff(got, tc.want); d != "" {
					t.Errorf("response (-got +want):\n%s", d)
				}
			})
		}
		if got := w.upload(t, u.ID); got.Status != domain.UploadScanning {
			t.Errorf("the upload: status %q, want scanning (no verdict was about it)", got.Status)
		}
	})
}

// BenchmarkVerdicts measures scan verdicts handled per second by the Lambda
// handler, in process, against real PostgreSQL (the object store is in
// memory, so the figure is the handler's and the database's): a clean
// verdict (two transactions and the copy), an infected one (one
// transaction), and a redelivery of an already settled one (a read and a
// locked re-decision that stores nothing). Each runs sequentially, as one
// Lambda execution environment does, and with several concurrent callers,
// as several environments do.
func BenchmarkVerdicts(b *testing.B) {
	cases := []struct {
		name, fixture string
		settleFirst   bool
	}{
		{"no-threats-found", "no-threats-found", false},
		{"threats-found", "threats-found", false},
		{"redelivered", "no-threats-found", true},
	}
	for _, tc := range cases {
		for _, parallel := range []bool{false, true} {
			name := tc.name
			if parallel {
				name += "/concurrent"
			}
			b.Run(name, func(b *testing.B) {
				w, _, h := newInProcessWorld(b)
				ctx := context.Background()
				events := make([][]byte, b.N)
				for i := range events {
					events[i] = scanResult(b, tc.fixture, w.scanning(b, lambdaFileBody))
					if tc.settleFirst {
						if _, err := h.Invoke(ctx, events[i]); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				handle := func(ev []byte) {
					out, err := h.Invoke(ctx, ev)
					if err != nil || !bytes.Contains(out, []byte(lambdaHandled)) {
						b.Errorf("got %s, %v; want handled", out, err)
					}
				}
				if parallel {
					var next atomic.Int64
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							handle(events[next.Add(1)-1])
						}
					})
				} else {
					for _, ev := range events {
						handle(ev)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
			})
		}
	}
}
