package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/config"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// envFor is the environment an operator would set for db.
func envFor(db config.DB) map[string]string {
	return map[string]string{
		"DB_HOST":               db.Host,
		"DB_PORT":               strconv.Itoa(db.Port),
		"DB_NAME":               db.Name,
		"DB_SSLMODE":            db.SSLMode,
		"DB_APP_USER":           db.AppUser,
		"DB_APP_PASSWORD":       db.AppPassword.Reveal(),
		"DB_MIGRATOR_USER":      db.MigratorUser,
		"DB_MIGRATOR_PASSWORD":  db.MigratorPassword.Reveal(),
		"EMAIL_PROVIDER":        "resend",
		"FROM_EMAIL":            "no-reply@example.com",
		"RESEND_API_KEY":        "re_test_key",
		"APP_BASE_URL":          "https://app.example.com",
		"HTTP_ADDR":             "127.0.0.1:0",
		"HTTP_SHUTDOWN_TIMEOUT": "5s",
		"AWS_REGION":            "eu-west-1",
		"S3_BUCKET":             "gatehouse-uploads",
	}
}

// syncBuffer is a bytes.Buffer safe for a server goroutine to write while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestMigrateCheckAndApply(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.NewEmptyDB(t))

	out, _, err := runCmd(t, env, "migrate", "--check")
	if !errors.Is(err, errSchemaDrift) || exitCode(err) != 1 {
		t.Fatalf("migrate --check on an empty database: got %v (exit %d), want schema drift (exit 1)", err, exitCode(err))
	}
	if !strings.Contains(out, "CREATE TABLE") || !strings.Contains(out, "users") {
		t.Errorf("migrate --check should list the pending changes; got:\n%s", out)
	}

	out, _, err = runCmd(t, env, "migrate")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "applied: CREATE TABLE") {
		t.Errorf("migrate should say what it applied; got:\n%s", out)
	}

	out, _, err = runCmd(t, env, "migrate", "--check")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate --check after migrate: got %v, output %q; want up to date", err, out)
	}
	out, _, err = runCmd(t, env, "migrate")
	if err != nil || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second migrate: got %v, output %q; want nothing to apply", err, out)
	}
}

func TestMigrateUsesTheMigratorRoleOnly(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmptyDB(t)
	env := envFor(db)
	// Give the migrator's place to the app role: DDL must be refused.
	env["DB_MIGRATOR_USER"], env["DB_MIGRATOR_PASSWORD"] = db.AppUser, db.AppPassword.Reveal()
	env["DB_APP_USER"], env["DB_APP_PASSWORD"] = "someone_else", "x"
	_, _, err := runCmd(t, env, "migrate")
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("migrate as the app role: got %v, want permission denied", err)
	}
}

func TestServeRefusesAnUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.NewEmptyDB(t))
	_, _, err := runCmd(t, env, "serve")
	if err == nil || !strings.Contains(err.Error(), "gatehouse migrate") {
		t.Fatalf("serve on an unmigrated database: got %v, want a refusal that says to run gatehouse migrate", err)
	}
}

func TestSSLModeDisableNeverReachesTheServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	env := envFor(config.DB{Host: host, Name: "gatehouse", SSLMode: "disable", AppUser: "a", AppPassword: "a", MigratorUser: "m", MigratorPassword: "m"})
	env["DB_PORT"] = port
	for _, args := range [][]string{{"serve"}, {"migrate"}, {"migrate", "--check"}} {
		_, _, err := runCmd(t, env, args...)
		if err == nil || !strings.Contains(err.Error(), "DB_SSLMODE") {
			t.Errorf("%v with DB_SSLMODE=disable: got %v, want a configuration error naming DB_SSLMODE", args, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the database port saw %d connection(s); want none", n)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	env := envFor(config.DB{Host: "db.internal", Port: 5432, Name: "gatehouse", SSLMode: "require",
		AppUser: "gatehouse_app", AppPassword: "app-pw-should-not-print", MigratorUser: "gatehouse_migrator", MigratorPassword: "mig-pw-should-not-print"})
	out, _, err := runCmd(t, env, "config", "check")
	if err != nil {
		t.Fatalf("config check: %v", err)
	}
	for _, want := range []string{"DB_HOST", "db.internal", "EMAIL_PROVIDER", "resend", "database_url", "gatehouse_app:[redacted]@", "configuration OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"app-pw-should-not-print", "mig-pw-should-not-print", "re_test_key"} {
		if strings.Contains(out, secret) {
			t.Errorf("config check printed secret %q", secret)
		}
	}

	env["DB_USER"] = "legacy"
	env["DB_SSLMODE"] = "prefer"
	_, _, err = runCmd(t, env, "config", "check")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "DB_USER") || !strings.Contains(err.Error(), "DB_SSLMODE") {
		t.Fatalf("config check with two problems: got %v (exit %d), want both reported and exit 1", err, exitCode(err))
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"frobnicate"}, {"config"}, {"serve", "extra"}, {"migrate", "--bogus"}} {
		_, _, err := runCmd(t, map[string]string{}, args...)
		if exitCode(err) != 2 {
			t.Errorf("%v: got %v (exit %d), want a usage error (exit 2)", args, err, exitCode(err))
		}
	}
	out, _, err := runCmd(t, nil, "help")
	if err != nil || !strings.Contains(out, "migrate --check") {
		t.Errorf("help: got %v, %q", err, out)
	}
}

// TestServeEndToEnd boots the real run() against a migrated database, checks
// the operational endpoints over HTTP, then stops it the way SIGTERM does
// while a request is in flight.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.NewDB(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &stderr)
	}()
	base := waitListening(t, &stderr, done)

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/openapi.json": 200, "/nope": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: got %d, want %d", path, resp.StatusCode, want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

// waitListening reads the "serving" log line for the listener's address.
func waitListening(t *testing.T, stderr *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				return "http://" + line.Addr
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve did not start listening:\n%s", stderr.String())
	return ""
}

// The GC target is raised only when the environment leaves GOGC unset.
func TestGCPercent(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if p, ok := gcPercent(env(nil)); !ok || p != defaultGCPercent || p <= 100 {
		t.Errorf("without GOGC: got %d, %v; want %d (above Go's 100), true", p, ok, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", "50"} {
		if p, ok := gcPercent(env(map[string]string{"GOGC": v})); ok {
			t.Errorf("with GOGC=%s: got %d, true; want the environment's value left alone", v, p)
		}
	}
}
