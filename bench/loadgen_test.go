package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      int
		wantLen   int // 0: the whole input
		status    int
		body      string
		close     bool
		wantErr   error // errIncomplete, errBadResponse or nil
		otherErr  bool  // some other error
		extraTail string
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", want: 200, status: 200},
		{name: "unexpected status keeps the body", in: "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope", want: 200, status: 404, body: "nope"},
		{name: "chunked with extension and trailer", in: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", want: 200, status: 201, body: "abcde"},
		{name: "no body on 204", in: "HTTP/1.1 204 No Content\r\n\r\n", want: 204, status: 204},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", want: 200, status: 200, close: true},
		{name: "a second response is left alone", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", extraTail: "HTTP/1.1 200 OK\r\n", want: 200, status: 200},
		{name: "headers still arriving", in: "HTTP/1.1 200 OK\r\nContent-Len", want: 200, wantErr: errIncomplete},
		{name: "body still arriving", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", want: 200, wantErr: errIncomplete},
		{name: "chunk still arriving", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nabc", want: 200, wantErr: errIncomplete},
		{name: "last chunk without its empty line", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", want: 200, wantErr: errIncomplete},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", want: 200, wantErr: errBadResponse},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", want: 200, wantErr: errBadResponse},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", want: 200, wantErr: errBadResponse},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", want: 200, wantErr: errBadResponse},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", want: 200, wantErr: errBadResponse},
		{name: "chunk longer than it said", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", want: 200, wantErr: errBadResponse},
		{name: "no length at all", in: "HTTP/1.1 200 OK\r\n\r\nbody", want: 200, otherErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseResponse([]byte(tt.in+tt.extraTail), tt.want)
			switch {
			case tt.otherErr:
				if err == nil || errors.Is(err, errIncomplete) {
					t.Fatalf("got %v, want an error other than errIncomplete", err)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("got %v, want a response", err)
			}
			if r.Len != len(tt.in) || r.Status != tt.status || string(r.Body) != tt.body || r.Close != tt.close {
				t.Errorf("got len %d status %d body %q close %v, want %d %d %q %v",
					r.Len, r.Status, r.Body, r.Close, len(tt.in), tt.status, tt.body, tt.close)
			}
		})
	}
}

// Every prefix of a response is incomplete, never a wrong answer.
func TestParseResponsePrefixes(t *testing.T) {
	full := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n"
	for i := range len(full) {
		if _, err := parseResponse([]byte(full[:i]), 200); !errors.Is(err, errIncomplete) {
			t.Fatalf("prefix of %d bytes: got %v, want errIncomplete", i, err)
		}
	}
	if r, err := parseResponse([]byte(full), 200); err != nil || r.Len != len(full) {
		t.Fatalf("whole response: got %+v, %v", r, err)
	}
}

// The event loop keeps conc requests in flight, counts only what started in
// the measured window, tells expected from unexpected statuses, and
// reconnects after the server closes a connection.
func TestRunLoad(t *testing.T) {
	var served, closes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		switch {
		case r.URL.Path == "/teapot":
			w.WriteHeader(http.StatusTeapot)
			fmt.Fprint(w, "short and stout")
		case n%50 == 0:
			closes.Add(1)
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "bye")
		case n%7 == 0:
			// Chunked, in two writes.
			fmt.Fprint(w, strings.Repeat("a", 100))
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "b")
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	build := func(path string) requestBuilder {
		return func(_ *rand.Rand, buf []byte) ([]byte, int) {
			return httpRequest(buf, "GET", path, nil, nil), 200
		}
	}

	res := runLoad(addr, 4, newWindow(100*time.Millisecond, 400*time.Millisecond), build("/"), 1)
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("got %d requests and %d errors (first: %s), want some and none", res.Requests, res.Errors, res.FirstErr)
	}
	if res.Total <= res.Requests {
		t.Errorf("total %d should include the warm-up's requests beyond the %d measured", res.Total, res.Requests)
	}
	if res.Total != served.Load() {
		t.Errorf("the loop counted %d requests, the server answered %d", res.Total, served.Load())
	}
	if closes.Load() == 0 {
		t.Errorf("the server never closed a connection: the test did not exercise reconnecting")
	}
	if len(res.Latencies) != int(res.Requests) || res.Latencies[0] > res.Latencies[len(res.Latencies)-1] {
		t.Errorf("want one sorted latency per measured request, got %d for %d", len(res.Latencies), res.Requests)
	}

	res = runLoad(addr, 2, newWindow(0, 200*time.Millisecond), build("/teapot"), 1)
	if res.Requests != 0 || res.Errors == 0 || res.Statuses[http.StatusTeapot] != res.Errors {
		t.Errorf("unexpected statuses: got %d ok, %d errors, statuses %v", res.Requests, res.Errors, res.Statuses)
	}
	if !strings.Contains(res.FirstErr, "status 418, want 200: short and stout") {
		t.Errorf("first error %q should name the status and the body", res.FirstErr)
	}
}

// A server that refuses connections gives errors, not a spinning loop or a
// hang.
func TestRunLoadRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	build := func(_ *rand.Rand, buf []byte) ([]byte, int) { return httpRequest(buf, "GET", "/", nil, nil), 200 }
	res := runLoad(addr, 2, newWindow(0, 100*time.Millisecond), build, 1)
	if res.Requests != 0 || res.Errors == 0 || !strings.Contains(res.FirstErr, "connect") {
		t.Errorf("got %d ok, %d errors, first %q; want only connect errors", res.Requests, res.Errors, res.FirstErr)
	}
	// One attempt per client per millisecond at most.
	if res.Errors > 2*110 {
		t.Errorf("%d connect attempts in 100 ms: the loop spins", res.Errors)
	}
}

// rawServer answers every request on every connection with reply (then
// closes the connection when closeAfter), without parsing more than the
// request's head.
func rawServer(t *testing.T, reply string, closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil || n == 0 {
						return
					}
					if _, err := c.Write([]byte(reply)); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// Answers the loop cannot take are errors, named in FirstErr, and the loop
// carries on with fresh connections.
func TestRunLoadBrokenAnswers(t *testing.T) {
	build := func(_ *rand.Rand, buf []byte) ([]byte, int) { return httpRequest(buf, "GET", "/", nil, nil), 200 }
	tests := []struct {
		name, reply string
		closeAfter  bool
		wantErr     string
	}{
		// Written at once, so they normally arrive in one read; if the
		// second came apart, the loop would see bytes with no request
		// outstanding instead.
		{"two responses to one request", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, "more bytes than one response|no request outstanding"},
		{"closed in the middle of a body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", true, "in the middle of a response"},
		{"closed before answering", "", true, "connection closed by the server"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", false, errBadResponse.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, tt.reply, tt.closeAfter)
			res := runLoad(addr, 2, newWindow(0, 100*time.Millisecond), build, 1)
			named := slices.ContainsFunc(strings.Split(tt.wantErr, "|"), func(w string) bool { return strings.Contains(res.FirstErr, w) })
			// (A response that came apart from the extra bytes counts
			// before they show up.)
			if (res.Requests != 0 && !strings.Contains(tt.wantErr, "|")) || res.Errors == 0 || !named {
				t.Errorf("got %d ok, %d errors, first %q; want only errors, the first saying %q", res.Requests, res.Errors, res.FirstErr, tt.wantErr)
			}
			if res.Errors < 4 {
				t.Errorf("only %d errors in 100 ms: the loop did not go on after the first", res.Errors)
			}
		})
	}
}

// The blocking client reads one whole response with the same parser, and
// refuses what the loop refuses.
func TestHTTPConn(t *testing.T) {
	req := httpRequest(nil, "GET", "/", nil, nil)
	tests := []struct {
		name, reply string
		closeAfter  bool
		status      int
		body        string
		wantErr     string
	}{
		{name: "kept body of an unexpected status", reply: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", status: 503, body: "busy"},
		{name: "connection close", reply: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", closeAfter: true, status: 200},
		{name: "two responses", reply: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", wantErr: "more bytes than one response"},
		{name: "closed mid-body", reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", closeAfter: true, wantErr: "unexpected EOF"},
		{name: "not HTTP", reply: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: errBadResponse.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &httpConn{addr: rawServer(t, tt.reply, tt.closeAfter)}
			defer c.close()
			status, body, err := c.do(req, 200)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %d %q %v, want an error saying %q", status, body, err, tt.wantErr)
				}
				if !c.closed {
					t.Error("the connection stays open after a broken answer")
				}
				return
			}
			if err != nil || status != tt.status || string(body) != tt.body {
				t.Fatalf("got %d %q %v, want %d %q", status, body, err, tt.status, tt.body)
			}
			if c.closed != tt.closeAfter {
				t.Errorf("closed after the answer: got %v, want %v", c.closed, tt.closeAfter)
			}
		})
	}
}
