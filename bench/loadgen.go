package bench

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"
)

// The load generator is closed-loop: each of C clients holds one keep-alive
// connection and sends its next request as soon as the previous answer has
// been read, like wrk and pgbench. It speaks just enough HTTP/1.1 to do that
// (a request written from prepared bytes; status line, headers, a body with
// Content-Length or chunked encoding) so that it costs a few microseconds of
// CPU per request instead of net/http's tens: the generator shares the cores
// with the server and the database.

// requestBuilder appends one request to buf, using rng for its random
// choices, and returns it with the status it expects.
type requestBuilder func(rng *rand.Rand, buf []byte) ([]byte, int)

// httpRequest renders a request. body may be nil; headers are "Name: value"
// lines without line ends.
func httpRequest(buf []byte, method, path string, headers []string, body []byte) []byte {
	buf = append(buf, method...)
	buf = append(buf, ' ')
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\nHost: bench\r\nUser-Agent: gatehouse-bench\r\n"...)
	for _, h := range headers {
		buf = append(buf, h...)
		buf = append(buf, "\r\n"...)
	}
	if body != nil {
		buf = append(buf, "Content-Type: application/json\r\nContent-Length: "...)
		buf = strconv.AppendInt(buf, int64(len(body)), 10)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	return append(buf, body...)
}

// httpConn is one blocking keep-alive client connection, for the odd
// request outside a load run (readiness, statement capture).
type httpConn struct {
	addr   string
	conn   net.Conn
	in     []byte
	closed bool
}

func (c *httpConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.conn, c.closed = nil, true
}

// do sends req and reads the answer. It returns the status and, for an
// answer other than want, the start of its body.
func (c *httpConn) do(req []byte, want int) (int, []byte, error) {
	if c.conn == nil || c.closed {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c.conn, c.closed = conn, false
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return 0, nil, err
	}
	r, err := c.readResponse(want)
	if err != nil || r.Close {
		c.close()
	}
	return r.Status, r.Body, err
}

var errBadResponse = errors.New("malformed HTTP response")

// readResponse reads until the buffer holds one whole response, with
// parseResponse.
func (c *httpConn) readResponse(want int) (parsedResponse, error) {
	c.in = c.in[:0]
	for {
		r, err := parseResponse(c.in, want)
		switch {
		case err == nil && r.Len != len(c.in):
			return parsedResponse{}, errors.New("more bytes than one response")
		case err == nil:
			r.Body = bytes.Clone(r.Body)
			return r, nil
		case !errors.Is(err, errIncomplete):
			return parsedResponse{}, err
		}
		if len(c.in) == cap(c.in) {
			c.in = slices.Grow(c.in, max(16<<10, cap(c.in)))
		}
		n, err := c.conn.Read(c.in[len(c.in):cap(c.in)])
		c.in = c.in[:len(c.in)+n]
		if n == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return parsedResponse{}, err
		}
	}
}

// loadResult is what one closed-loop run measured.
type loadResult struct {
	// Requests answered with the expected status, started within the
	// measured window; Errors counts the others (transport errors and
	// unexpected statuses), also within the window.
	Requests int64
	Errors   int64
	// Total counts every request sent, warm-up included.
	Total     int64
	Window    time.Duration
	Latencies []time.Duration // of the measured requests, sorted
	FirstErr  string
	Statuses  map[int]int64
}

// RPS is the throughput over the measured window.
func (r loadResult) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Window.Seconds()
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples,
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// window is a measured phase: warm-up from start to from, measured from from
// to until.
type window struct {
	start, from, until time.Time
}

func newWindow(warmup, duration time.Duration) window {
	now := time.Now()
	return window{start: now, from: now.Add(warmup), until: now.Add(warmup + duration)}
}
