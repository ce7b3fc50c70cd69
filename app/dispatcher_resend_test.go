package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/resend"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
)

const standInKey = "re_test_dispatcher"

// resendStandIn speaks enough of Resend's API on 127.0.0.1 for the
// dispatcher's reliability tests: POST /emails with a bearer key, deduped on
// the Idempotency-Key as Resend does. It can answer 503 or hang (until the
// client gives up) for the next requests.
type resendStandIn struct {
	srv *httptest.Server

	mu       sync.Mutex
	fail     int            // answer 503 to this many more requests
	hang     int            // hang on this many more requests
	keys     []string       // Idempotency-Key of every request, in order
	accepted map[string]int // requests answered 200, per key
	problems []string
}

func newResendStandIn(t *testing.T) *resendStandIn {
	t.Helper()
	s := &resendStandIn{accepted: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Errorf("stand-in: %s", p)
		}
	})
	return s
}

func (s *resendStandIn) handle(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		To      []string `json:"to"`
		Subject string   `json:"subject"`
		Text    string   `json:"text"`
		HTML    string   `json:"html"`
	}
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	s.keys = append(s.keys, key)
	switch {
	case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/emails") || r.Header.Get("Authorization") != "Bearer "+standInKey:
		s.problems = append(s.problems, "unexpected request "+r.Method+" "+r.URL.Path)
	case json.Unmarshal(raw, &body) != nil || len(body.To) != 1 || body.Subject == "" || body.Text == "" || body.HTML == "" || key == "":
		s.problems = append(s.problems, "incomplete request: "+string(raw))
	}
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"statusCode":503,"name":"internal_server_error","message":"down for maintenance"}`))
		return
	}
	if s.hang > 0 {
		s.hang--
		s.mu.Unlock()
		<-r.Context().Done() // the client gave up
		return
	}
	s.accepted[key]++ // a repeated key is answered as the first time and not delivered again
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"re_` + key + `"}`))
}

// deliveries returns, per idempotency key, how many requests the stand-in
// accepted (a key accepted twice reaches the recipient once, as Resend
// dedupes) and how many requests carried it in all.
func (s *resendStandIn) deliveries() (accepted map[string]int, requests map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	requests = map[string]int{}
	for _, k := range s.keys {
		requests[k]++
	}
	accepted = map[string]int{}
	for k, n := range s.accepted {
		accepted[k] = n
	}
	return accepted, requests
}

func (s *resendStandIn) mailer(t *testing.T, timeout time.Duration) *resend.Mailer {
	t.Helper()
	m, err := resend.New(config.Email{From: "Gatehouse <no-reply@example.net>", ResendAPIKey: config.Secret(standInKey), ResendBaseURL: s.srv.URL},
		resend.WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDispatcherOverResend runs the dispatcher against the real Resend
// adapter and a stand-in of Resend's API that fails in the ways providers
// do.
func TestDispatcherOverResend(t *testing.T) {
	t.Parallel()

	t.Run("the provider answers 503 then recovers: every mail is delivered once and nothing is lost", func(t *testing.T) {
		t.Parallel()
		s := newResendStandIn(t)
		s.fail = 3
		f := newDispatchFixture(t, testDispatcherConfig(), s.mailer(t, 5*time.Second))
		var ids []string
		for range 5 {
			ids = append(ids, f.mail(t).ID)
		}
		for pass := 0; pass < 10 && !allSent(t, f, ids); pass++ {
			f.runOnce(t)
			f.clock.Advance(time.Hour)
		}
		accepted, requests := s.deliveries()
		for _, id := range ids {
			r := f.row(t, id)
			if r.Status != domain.OutboxSent || accepted[id] != 1 {
				t.Errorf("mail %s: row %s, accepted %d times; want sent, accepted once", id, r.Status, accepted[id])
			}
		}
		total := 0
		for _, n := range requests {
			total += n
		}
		if total != len(ids)+3 {
			t.Errorf("the stand-in got %d requests, want %d (one per mail and one per 503)", total, len(ids)+3)
		}
		if got := f.obs.snapshot()["mail/retried"]; got != 3 {
			t.Errorf("observed %d retries, want 3", got)
		}
		f.checkNoSecretsLogged(t)
	})

	t.Run("the provider hangs: the attempt times out and the mail goes out on the retry", func(t *testing.T) {
		t.Parallel()
		s := newResendStandIn(t)
		s.hang = 1
		f := newDispatchFixture(t, testDispatcherConfig(), s.mailer(t, 100*time.Millisecond))
		m := f.mail(t)
		if res, want := f.runOnce(t), 1; res.Retried != want {
			t.Fatalf("first pass: got %+v, want the attempt retried", res)
		}
		r := f.row(t, m.ID)
		if r.Status != domain.OutboxPending || r.Attempts != 1 || !strings.Contains(r.LastError, "deadline exceeded") {
			t.Errorf("after the timeout: row %s after %d attempts, last error %q; want pending after 1 with a timeout error", r.Status, r.Attempts, r.LastError)
		}
		f.clock.Advance(time.Hour)
		if res := f.runOnce(t); res.Sent != 1 {
			t.Fatalf("second pass: got %+v, want the mail sent", res)
		}
		if accepted, _ := s.deliveries(); accepted[m.ID] != 1 {
			t.Errorf("accepted %d times, want once", accepted[m.ID])
		}
	})

	t.Run("a provider that hangs on an adapter without its own timeout is cut off by the attempt timeout", func(t *testing.T) {
		t.Parallel()
		cfg := testDispatcherConfig()
		cfg.AttemptTimeout = 50 * time.Millisecond
		gate := &gateMailer{started: make(chan string, 1), release: make(chan struct{})}
		f := newDispatchFixture(t, cfg, gate)
		m := f.mail(t)
		if res := f.runOnce(t); res.Retried != 1 {
			t.Fatalf("RunOnce: got %+v, want the attempt retried", res)
		}
		if r := f.row(t, m.ID); r.Attempts != 1 || !strings.Contains(r.LastError, "deadline exceeded") {
			t.Errorf("row after %d attempts, last error %q; want 1 and a timeout", r.Attempts, r.LastError)
		}
	})

	t.Run("a crash after the provider accepted but before recording it redelivers with the same idempotency key", func(t *testing.T) {
		t.Parallel()
		s := newResendStandIn(t)
		f := newDispatchFixture(t, testDispatcherConfig(), nil)
		mailer := s.mailer(t, 5*time.Second)
		m := f.mail(t)
		crashing := f.dispatcher(t, forgetfulQueue{f.queue}, mailer)
		if res, err := crashing.RunOnce(t.Context()); err != nil || res.Unrecorded != 1 {
			t.Fatalf("crashing pass: got %+v, %v; want one unrecorded outcome", res, err)
		}
		f.clock.Advance(f.cfg.Lease)
		if res, err := f.dispatcher(t, f.queue, mailer).RunOnce(t.Context()); err != nil || res.Sent != 1 {
			t.Fatalf("pass after the lease: got %+v, %v; want the mail sent", res, err)
		}
		accepted, requests := s.deliveries()
		if requests[m.ID] != 2 || accepted[m.ID] != 2 || len(requests) != 1 {
			t.Errorf("stand-in: %v requests and %v accepted per key; want both requests with key %s, which Resend delivers once", requests, accepted, m.ID)
		}
		if r := f.row(t, m.ID); r.Status != domain.OutboxSent || r.Attempts != 1 {
			t.Errorf("row: %s after %d attempts, want sent after 1 (the lost attempt was never recorded)", r.Status, r.Attempts)
		}
	})
}

func allSent(t *testing.T, f *dispatchFixture, ids []string) bool {
	t.Helper()
	return !slices.ContainsFunc(ids, func(id string) bool { return f.row(t, id).Status != domain.OutboxSent })
}
