package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
)

// mailStandIn answers Resend's POST /emails on 127.0.0.1 and records the
// idempotency key of every message it accepts.
type mailStandIn struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys []string
}

func newMailStandIn(t *testing.T) *mailStandIn {
	t.Helper()
	s := &mailStandIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/emails") || r.Header.Get("Authorization") != "Bearer re_test_key" {
			http.Error(w, `{"message":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"re_1"}`))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *mailStandIn) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// outboxEnv is envFor(db) with mail going to the stand-in and the worker's
// metrics on a free loopback port.
func outboxEnv(db config.DB, mail *mailStandIn) map[string]string {
	env := envFor(db)
	env["RESEND_BASE_URL"] = mail.srv.URL
	env["WORKER_METRICS_ADDR"] = "127.0.0.1:0"
	env["OUTBOX_POLL_INTERVAL"] = "10ms"
	return env
}

// enqueueMail commits n verification mails (no events: they would go to
// AWS) and returns their ids.
func enqueueMail(t *testing.T, db config.DB, n int) []string {
	t.Helper()
	bdb, err := postgres.Open(context.Background(), db.DatabaseURL(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var ids []string
	var msgs []domain.OutboxMessage
	for i := range n {
		id := fmt.Sprintf("0196a0b0-0000-7000-8000-%012x", i+1)
		m, err := domain.NewMailOutbox("verify_email", domain.MailMessage{ID: id, To: "new-user@example.com", Subject: "Confirm your email address",
			Text: "https://app.example.com/verify-email#token=SECRET", HTML: `<a href="https://app.example.com/verify-email#token=SECRET">Confirm</a>`}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids, msgs = append(ids, id), append(msgs, m)
	}
	if err := postgres.NewStore(bdb).Enqueue(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// logLine waits for the first JSON log line with message msg and returns it.
func logLine(t *testing.T, stderr *syncBuffer, done <-chan error, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the command exited early: %v\n%s", err, stderr.String())
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
				return line
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q log line:\n%s", msg, stderr.String())
	return nil
}

// waitUntil polls cond; the deadline only keeps a broken build from hanging.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestWorkerDeliversTheOutbox boots the real run("worker") against a
// migrated database and a stand-in of Resend: it delivers what is due,
// reports it on /metrics, and stops cleanly when its context is cancelled
// (as on SIGTERM).
func TestWorkerDeliversTheOutbox(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	mail := newMailStandIn(t)
	ids := enqueueMail(t, db, 3)
	env := outboxEnv(db, mail)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"worker"}, func(k string) string { return env[k] }, io.Discard, &stderr)
	}()
	base := "http://" + logLine(t, &stderr, done, "worker running")["metrics_addr"].(string)

	waitUntil(t, "three mails at the stand-in", func() bool { return len(mail.received()) >= 3 })
	waitUntil(t, "the deliveries on /metrics", func() bool {
		_, body := httpGet(t, base+"/metrics")
		return strings.Contains(body, `gatehouse_outbox_deliveries_total{channel="mail",result="sent"} 3`)
	})
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{`gatehouse_outbox_pending{channel="mail"} 0`, `gatehouse_outbox_oldest_due_age_seconds{channel="event"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: got %d, want 200", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker returned %v after cancel, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop after its context was cancelled")
	}
	got := mail.received()
	slices.Sort(got)
	if d := cmp.Diff(got, ids); d != "" {
		t.Errorf("idempotency keys at the stand-in differ from the outbox ids, each once (-got +want):\n%s", d)
	}
	if strings.Contains(stderr.String(), "SECRET") || strings.Contains(stderr.String(), "new-user@example.com") {
		t.Errorf("the worker's log holds a link or an address:\n%s", stderr.String())
	}
	if n := strings.Count(stderr.String(), `"msg":"outbox delivery attempt"`); n != 3 {
		t.Errorf("got %d delivery log lines, want 3", n)
	}
}

// TestServeRunsTheDispatcherUnlessDisabled: serve delivers the outbox
// itself by default, and leaves it to the worker with
// OUTBOX_DISPATCHER_ENABLED=false.
func TestServeRunsTheDispatcherUnlessDisabled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		enabled string
		wantLog string
	}{
		{"enabled by default: serve delivers the outbox", "", "outbox dispatcher started"},
		{"disabled: serve says the worker must deliver", "false", "outbox dispatcher not started here (OUTBOX_DISPATCHER_ENABLED=false): run `gatehouse worker` to deliver mail and events"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.NewDB(t)
			mail := newMailStandIn(t)
			enqueueMail(t, db, 1)
			env := outboxEnv(db, mail)
			env["OUTBOX_DISPATCHER_ENABLED"] = tc.enabled
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &stderr)
			}()
			logLine(t, &stderr, done, tc.wantLog)
			if tc.enabled == "" {
				waitUntil(t, "the mail at the stand-in", func() bool { return len(mail.received()) == 1 })
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve returned %v after cancel, want nil", err)
			}
			if tc.enabled == "false" && strings.Contains(stderr.String(), "outbox dispatcher started") {
				t.Errorf("serve started the dispatcher with OUTBOX_DISPATCHER_ENABLED=false:\n%s", stderr.String())
			}
		})
	}
}

func TestWorkerUsage(t *testing.T) {
	t.Parallel()
	_, _, err := runCmd(t, map[string]string{}, "worker", "extra")
	if exitCode(err) != 2 {
		t.Errorf("worker extra: got %v (exit %d), want a usage error (exit 2)", err, exitCode(err))
	}
	out, _, err := runCmd(t, nil, "help")
	if err != nil || !strings.Contains(out, "worker") {
		t.Errorf("help: got %v, %q; want the worker command listed", err, out)
	}
}
