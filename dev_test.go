//go:build unix

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// devDataDir is an empty directory for `gatehouse dev --data`. When the tests
// run as root the cluster runs as the postgres user, which must be able to
// pass through every directory above its own; t.TempDir makes private
// (0700) ones, so open them for passing through (not for listing).
func devDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// devRun is one `gatehouse dev` running in the background.
type devRun struct {
	base           string // the API's URL
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error    // run's result, once
	finished       chan struct{} // closed when run has returned
	startup        time.Duration // from run() to the "serving" log line
}

func startDev(t *testing.T, dataDir string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1), finished: make(chan struct{})}
	began := time.Now()
	go func() {
		defer close(d.finished)
		// Nothing configured: an empty environment.
		d.done <- run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--data", dataDir}, func(string) string { return "" }, d.stdout, d.stderr)
	}()
	d.base = waitDevServing(t, d.stderr, d.done)
	d.startup = time.Since(began)
	t.Cleanup(func() {
		// After a failure: stop the cluster before the directory goes.
		cancel()
		select {
		case <-d.finished:
		case <-time.After(2 * time.Minute):
		}
	})
	return d
}

// waitDevServing waits for dev's "serving" log line and returns the API's
// URL. A first start makes a database cluster, which can take a while on a
// busy machine, so it waits longer than waitListening does.
func waitDevServing(t *testing.T, stderr *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("dev exited early: %v\n%s", err, stderr.String())
		default:
		}
		for line := range strings.Lines(stderr.String()) {
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving" {
				return "http://" + l.Addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dev did not start serving:\n%s", stderr.String())
	return ""
}

// stop cancels the run (as Ctrl-C does) and waits for a clean exit.
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("dev returned %v after cancel, want nil\n%s", err, d.stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("dev did not stop after its context was cancelled\n%s", d.stderr.String())
	}
}

func (d *devRun) wantStatus(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		resp, err := http.Get(d.base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", p, resp.StatusCode)
		}
	}
}

// postmasterPID reads the running server's pid from its data directory.
func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "postgres", "pg", "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("the cluster's postmaster.pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

// systemIdentifier is the cluster's identity, fixed by initdb: the first 8
// bytes of global/pg_control. A re-initialised cluster has another.
func systemIdentifier(t *testing.T, dataDir string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "postgres", "pg", "data", "global", "pg_control"))
	if err != nil || len(raw) < 8 {
		t.Fatalf("reading pg_control: %v", err)
	}
	return binary.LittleEndian.Uint64(raw[:8])
}

type devCredentials struct {
	SuperuserPassword string `json:"superuser_password"`
	Databases         map[string]struct {
		AppPassword      string `json:"app_password"`
		MigratorPassword string `json:"migrator_password"`
	} `json:"databases"`
}

func readDevCredentials(t *testing.T, dataDir string) devCredentials {
	t.Helper()
	path := filepath.Join(dataDir, "postgres", "credentials.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, mode)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c devCredentials
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	db := c.Databases[devDBName]
	if len(c.SuperuserPassword) < 32 || len(db.AppPassword) < 32 || len(db.MigratorPassword) < 32 {
		t.Errorf("credentials.json: want three random passwords of at least 32 characters, got %d, %d and %d characters",
			len(c.SuperuserPassword), len(db.AppPassword), len(db.MigratorPassword))
	}
	return c
}

// TestDevCreatesReusesAndLocksItsDataDir runs `gatehouse dev` on an empty
// data directory, checks the API is ready on the cluster it made, that a
// second copy on the same directory is turned away, and that Ctrl-C stops
// the server and the cluster; then runs it again on the same directory and
// checks that the cluster is reused, not made again.
func TestDevCreatesReusesAndLocksItsDataDir(t *testing.T) {
	dataDir := devDataDir(t)

	first := startDev(t, dataDir)
	first.wantStatus(t, "/healthz", "/readyz")
	banner := first.stdout.String()
	for _, want := range []string{first.base, first.base + "/docs", first.base + "/dev/mail", "database", "postgres://gatehouse_app:[redacted]@127.0.0.1:", dataDir, "S3", "http://127.0.0.1:", devBucket, "EICAR", "API=" + first.base} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner)
		}
	}
	if !strings.Contains(first.stderr.String(), "creating a cluster") {
		t.Errorf("the first run should say it creates the cluster; log:\n%s", first.stderr.String())
	}
	creds := readDevCredentials(t, dataDir)
	for _, secret := range []string{creds.SuperuserPassword, creds.Databases[devDBName].AppPassword, creds.Databases[devDBName].MigratorPassword} {
		if strings.Contains(first.stdout.String()+first.stderr.String(), secret) {
			t.Errorf("a password from credentials.json appears in dev's output")
		}
	}
	sysID := systemIdentifier(t, dataDir)
	pgPID := postmasterPID(t, dataDir)

	// A second copy on the same data directory is turned away at once.
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"dev", "--addr", "127.0.0.1:0", "--data", dataDir}, func(string) string { return "" }, &out, &errOut)
	want := fmt.Sprintf("gatehouse dev is already running (pid %d) with data in %s", os.Getpid(), dataDir)
	if err == nil || err.Error() != want || exitCode(err) != 1 {
		t.Errorf("a second dev on the same data dir: got %v (exit %d), want %q (exit 1)", err, exitCode(err), want)
	}
	first.wantStatus(t, "/readyz") // the refusal disturbed nothing

	first.stop(t)
	if err := syscall.Kill(pgPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres (pid %d) after dev stopped: signal 0 got %v, want ESRCH (no such process)", pgPID, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "pg", "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after dev stopped: got %v, want it removed by a clean shutdown", err)
	}

	second := startDev(t, dataDir)
	second.wantStatus(t, "/healthz", "/readyz")
	if log := second.stderr.String(); !strings.Contains(log, "reusing the cluster") || strings.Contains(log, "creating") {
		t.Errorf("the second run should reuse the cluster and create nothing; log:\n%s", log)
	}
	if diff := cmp.Diff(creds, readDevCredentials(t, dataDir)); diff != "" {
		t.Errorf("credentials.json changed across runs (-first +second):\n%s", diff)
	}
	if got := systemIdentifier(t, dataDir); got != sysID {
		t.Errorf("cluster system identifier: got %d, want %d (the cluster was made again)", got, sysID)
	}
	second.stop(t)

	t.Logf("gatehouse dev ready: first start %v, warm restart %v", first.startup.Round(time.Millisecond), second.startup.Round(time.Millisecond))
}

func TestDevConfig(t *testing.T) {
	t.Parallel()
	stackEnv := map[string]string{
		"DB_HOST": "127.0.0.1", "DB_PORT": "5433", "DB_NAME": "gatehouse", "DB_SSLMODE": "require",
		"DB_APP_USER": "gatehouse_app", "DB_APP_PASSWORD": "a", "DB_MIGRATOR_USER": "gatehouse_migrator", "DB_MIGRATOR_PASSWORD": "m",
		"S3_BUCKET": devBucket, "S3_ENDPOINT": "http://127.0.0.1:9000", "S3_USE_PATH_STYLE": "true",
	}
	type result struct {
		DBHost, BaseURL, Addr, LogLevel, Region string
		MailHost                                string
		CORS                                    []string
		Bucket, S3Endpoint                      string
		S3PathStyle                             bool
	}
	dev := result{DBHost: "127.0.0.1", BaseURL: "http://127.0.0.1:8080", Addr: "127.0.0.1:8080", LogLevel: "info", Region: devAWSRegion, MailHost: "127.0.0.1:9",
		Bucket: devBucket, S3Endpoint: "http://127.0.0.1:9000", S3PathStyle: true}
	cases := []struct {
		name string
		env  map[string]string
		want result
	}{
		{
			name: "nothing configured",
			env:  nil,
			want: dev,
		},
		{
			name: "the shell's database, mail, AWS, S3 and listener settings are ignored",
			env: map[string]string{
				"DB_HOST": "prod.example.com", "DB_USER": "legacy", "DB_SSLMODE": "disable", "DB_APP_PASSWORD": "prod",
				"EMAIL_PROVIDER": "ses", "RESEND_API_KEY": "re_live", "RESEND_BASE_URL": "https://api.resend.com/",
				"GMAIL_USERNAME": "x@gmail.com", "AWS_REGION": "eu-west-1", "HTTP_ADDR": ":9999",
				"S3_BUCKET": "prod-uploads", "S3_ENDPOINT": "https://s3.example.com", "S3_USE_PATH_STYLE": "false",
				"AWS_ACCESS_KEY_ID": "AKIAPROD", "AWS_PROFILE": "prod",
			},
			want: dev,
		},
		{
			name: "the rest of the environment applies",
			env:  map[string]string{"APP_BASE_URL": "http://localhost:5173", "CORS_ALLOWED_ORIGINS": "http://localhost:5173", "LOG_LEVEL": "debug"},
			want: func() result {
				r := dev
				r.BaseURL, r.LogLevel, r.CORS = "http://localhost:5173", "debug", []string{"http://localhost:5173"}
				return r
			}(),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := devConfig(stackEnv, func(k string) string { return tc.env[k] }, "127.0.0.1:8080", "http://127.0.0.1:8080")
			if err != nil {
				t.Fatalf("devConfig: %v", err)
			}
			c := res.Config
			mail, err := url.Parse(c.Email.ResendBaseURL)
			if err != nil {
				t.Fatal(err)
			}
			got := result{DBHost: c.DB.Host, BaseURL: c.App.BaseURL, Addr: c.HTTP.Addr, LogLevel: c.Log.Level,
				Region: c.AWS.Region, MailHost: mail.Host, CORS: c.HTTP.CORSOrigins,
				Bucket: c.Uploads.Bucket, S3Endpoint: c.Uploads.S3Endpoint, S3PathStyle: c.Uploads.S3UsePathStyle}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
