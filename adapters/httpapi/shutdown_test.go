package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// startRun runs s on a loopback listener and returns its base URL and the
// channel Run's result arrives on.
func startRun(t *testing.T, ctx context.Context, s *testServer) (string, net.Addr, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	return "http://" + ln.Addr().String(), ln.Addr(), done
}

// waitListenerClosed returns once nothing accepts connections on addr any
// more, i.e. once shutdown has begun.
func waitListenerClosed(t *testing.T, addr net.Addr) {
	t.Helper()
	for {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
}

type result struct {
	res  *http.Response
	body []byte
	err  error
}

func get(client *http.Client, url string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		res, err := client.Get(url)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		ch <- result{res: res, body: body, err: err}
	}()
	return ch
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	slow := newGate()
	t.Cleanup(slow.open)
	s := newServer(t, baseConfig())
	addTestRoutes(t, s, slow)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, addr, done := startRun(t, ctx, s)

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	// Serving normally first.
	if r := <-get(client, base+"/healthz"); r.err != nil || r.res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz before shutdown: got %v %v, want 200", r.res, r.err)
	}

	inflight := get(client, base+"/test/slow")
	<-slow.started
	cancel()
	waitListenerClosed(t, addr)

	// While draining, readiness says no, so load balancers stop sending.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz while draining: got %d, want 503", rec.Code)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "not_ready" {
		t.Errorf("GET /readyz while draining: got %s (%v), want code not_ready", rec.Body, err)
	}

	select {
	case err := <-done:
		t.Fatalf("Run returned %v while a request was still in flight", err)
	default:
	}

	slow.open()
	r := <-inflight
	if r.err != nil {
		t.Fatalf("in-flight request: got error %v, want a response", r.err)
	}
	if r.res.StatusCode != http.StatusOK || string(r.body) != "{\"status\":\"done\"}\n" {
		t.Errorf("in-flight request: got %d %q, want 200 {\"status\":\"done\"}", r.res.StatusCode, r.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: got %v, want nil after a clean shutdown", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	slow := newGate()
	t.Cleanup(slow.open)
	cfg := baseConfig()
	cfg.ShutdownTimeout = 20 * time.Millisecond
	s := newServer(t, cfg)
	addTestRoutes(t, s, slow)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, _, done := startRun(t, ctx, s)

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	inflight := get(client, base+"/test/slow")
	<-slow.started
	cancel()

	// The handler never finishes on its own: Run gives up at the deadline.
	if err := <-done; err == nil {
		t.Errorf("Run: got nil, want an error saying in-flight requests did not finish")
	}
	slow.open()
	if r := <-inflight; r.err == nil {
		t.Errorf("request cut off at the deadline: got %d, want a connection error", r.res.StatusCode)
	}
}

func TestRunFailsOnABrokenListener(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := s.Run(context.Background(), ln); err == nil {
		t.Errorf("Run on a closed listener: got nil, want an error")
	}
}
