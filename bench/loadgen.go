package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
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

// httpConn is one keep-alive client connection.
type httpConn struct {
	addr   string
	conn   net.Conn
	br     *bufio.Reader
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
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.br.Reset(conn)
		}
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return 0, nil, err
	}
	status, body, err := c.readResponse(want)
	if err != nil {
		c.close()
	}
	return status, body, err
}

var errBadResponse = errors.New("malformed HTTP response")

func (c *httpConn) readResponse(want int) (int, []byte, error) {
	line, err := c.readLine()
	if err != nil {
		return 0, nil, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, errBadResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, errBadResponse
	}
	length, chunked, closeAfter := int64(-1), false, false
	for {
		h, err := c.readLine()
		if err != nil {
			return 0, nil, err
		}
		if len(h) == 0 {
			break
		}
		name, val, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, errBadResponse
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(val), 10, 64); err != nil {
				return 0, nil, errBadResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(val, []byte("close"))
		}
	}
	var keep []byte
	keepBody := status != want
	read := func(n int64) error {
		if keepBody && len(keep) < 512 {
			b, err := c.br.Peek(int(min(n, 512-int64(len(keep)), int64(c.br.Size()))))
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
				return err
			}
			keep = append(keep, b...)
		}
		_, err := c.br.Discard(int(n))
		return err
	}
	switch {
	case chunked:
		for {
			l, err := c.readLine()
			if err != nil {
				return 0, nil, err
			}
			if i := bytes.IndexByte(l, ';'); i >= 0 {
				l = l[:i]
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
			if err != nil {
				return 0, nil, errBadResponse
			}
			if n == 0 {
				for { // trailers
					t, err := c.readLine()
					if err != nil {
						return 0, nil, err
					}
					if len(t) == 0 {
						break
					}
				}
				break
			}
			if err := read(n); err != nil {
				return 0, nil, err
			}
			if _, err := c.readLine(); err != nil {
				return 0, nil, err
			}
		}
	case length > 0:
		if err := read(length); err != nil {
			return 0, nil, err
		}
	case length < 0 && status != 204 && status != 304:
		return 0, nil, errors.New("response without Content-Length or chunked encoding")
	}
	if closeAfter {
		c.close()
	}
	return status, keep, nil
}

func (c *httpConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
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
