package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// On Linux the load generator runs every client connection on one OS
// thread with epoll and non-blocking sockets, as wrk does. The same clients
// on goroutines cost about four times as much CPU per request (the
// netpoller, goroutine wake-ups and the scheduler's spinning threads), and
// the generator shares two cores with the server and the database, so every
// microsecond it spends is taken from what is measured.

// Limits of one client connection.
const (
	evRequestTimeout = 30 * time.Second // an answer slower than this is an error
	evMaxResponse    = 1 << 20          // bytes of one response held at once
	evAbandonAfter   = 35 * time.Second // past the window, stop waiting for stragglers
)

// evConn is one client connection of the event loop.
type evConn struct {
	idx      int
	fd       int // -1 while not connected
	rng      *rand.Rand
	buf      []byte // the current request
	out      []byte // what is left to write of it
	in       []byte // what was read of the answer
	want     int
	t0       time.Time
	inflight bool
	retryAt  time.Time // when to reconnect after a failure
}

// evLoop is the load generator's event loop.
type evLoop struct {
	sa    syscall.Sockaddr
	fam   int
	epfd  int
	conns []*evConn
	build requestBuilder
	w     window

	ok, errs, total int64
	lat             []time.Duration
	firstErr        string
	statuses        map[int]int64
}

// runLoad runs conc closed-loop clients against addr until the window ends.
func runLoad(addr string, conc int, w window, build requestBuilder, seed uint64) loadResult {
	l := &evLoop{build: build, w: w, statuses: map[int]int64{}}
	res := loadResult{Window: w.until.Sub(w.from), Statuses: map[int]int64{}}
	if err := l.init(addr, conc, seed); err != nil {
		res.Errors, res.FirstErr = 1, err.Error()
		return res
	}
	defer l.close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.run()
	res.Requests, res.Errors, res.Total = l.ok, l.errs, l.total
	res.Latencies, res.FirstErr, res.Statuses = l.lat, l.firstErr, l.statuses
	slices.Sort(res.Latencies)
	return res
}

func (l *evLoop) init(addr string, conc int, seed uint64) error {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return err
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa := &syscall.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		l.sa, l.fam = sa, syscall.AF_INET
	} else {
		sa := &syscall.SockaddrInet6{Port: ta.Port}
		copy(sa.Addr[:], ta.IP.To16())
		l.sa, l.fam = sa, syscall.AF_INET6
	}
	if l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for i := range conc {
		l.conns = append(l.conns, &evConn{idx: i, fd: -1, rng: rand.New(rand.NewPCG(seed, uint64(i))),
			buf: make([]byte, 0, 1024), in: make([]byte, 0, 16<<10)})
	}
	return nil
}

func (l *evLoop) close() {
	for _, c := range l.conns {
		l.disconnect(c)
	}
	_ = syscall.Close(l.epfd)
}

// connect opens c's socket (a blocking connect, then non-blocking I/O) and
// registers it for reading.
func (l *evLoop) connect(c *evConn) error {
	fd, err := syscall.Socket(l.fam, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := syscall.Connect(fd, l.sa); err != nil {
		_ = syscall.Close(fd)
		return fmt.Errorf("connect: %w", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return fmt.Errorf("set non-blocking: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.idx)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = syscall.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	c.fd, c.in = fd, c.in[:0]
	return nil
}

func (l *evLoop) disconnect(c *evConn) {
	if c.fd >= 0 {
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
		_ = syscall.Close(c.fd)
	}
	c.fd, c.inflight, c.in, c.out = -1, false, c.in[:0], nil
}

// fail records a failed request of c (or a failed connect), drops the
// connection and reconnects a millisecond later, so that a refused
// connection does not spin.
func (l *evLoop) fail(c *evConn, now time.Time, err error) {
	if c.inflight {
		l.total++
		if !c.t0.Before(l.w.from) {
			l.errs++
			l.statuses[0]++
		}
	} else if !now.Before(l.w.from) && now.Before(l.w.until) {
		l.errs++ // a connection that failed to open in the window
	}
	if l.firstErr == "" {
		l.firstErr = err.Error()
	}
	l.disconnect(c)
	c.retryAt = now.Add(time.Millisecond)
}

// send starts c's next request, unless the window is over.
func (l *evLoop) send(c *evConn, now time.Time) {
	if !now.Before(l.w.until) {
		return
	}
	if c.fd < 0 {
		if err := l.connect(c); err != nil {
			l.fail(c, now, err)
			return
		}
	}
	c.buf, c.want = l.build(c.rng, c.buf[:0])
	c.out, c.t0, c.inflight = c.buf, time.Now(), true
	l.flush(c, c.t0)
}

// flush writes what is left of c's request, and waits for the socket to
// take more when it is full.
func (l *evLoop) flush(c *evConn, now time.Time) {
	for len(c.out) > 0 {
		n, err := syscall.Write(c.fd, c.out)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(c.idx)}
			if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
				l.fail(c, now, err)
			}
			return
		}
		if err != nil {
			l.fail(c, now, fmt.Errorf("write: %w", err))
			return
		}
		c.out = c.out[n:]
	}
}

// readable reads what c's socket holds and, once the answer is whole,
// records it and sends the next request.
func (l *evLoop) readable(c *evConn, now time.Time) {
	eof := false
	for !eof {
		if len(c.in) == cap(c.in) {
			if cap(c.in) >= evMaxResponse {
				l.fail(c, now, errors.New("response over 1 MiB"))
				return
			}
			c.in = slices.Grow(c.in, cap(c.in))
		}
		n, err := syscall.Read(c.fd, c.in[len(c.in):cap(c.in)])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			l.fail(c, now, fmt.Errorf("read: %w", err))
			return
		}
		// The server may answer and close at once: the answer is
		// still read.
		eof = n == 0
		c.in = c.in[:len(c.in)+n]
	}
	if eof && len(c.in) == 0 {
		l.fail(c, now, errors.New("connection closed by the server"))
		return
	}
	if !c.inflight {
		l.fail(c, now, errors.New("bytes from the server with no request outstanding"))
		return
	}
	r, err := parseResponse(c.in, c.want)
	if errors.Is(err, errIncomplete) {
		if eof {
			l.fail(c, now, errors.New("connection closed by the server in the middle of a response"))
		}
		return
	}
	if err != nil {
		l.fail(c, now, err)
		return
	}
	if r.Len != len(c.in) {
		l.fail(c, now, errors.New("more bytes than one response"))
		return
	}
	dt := now.Sub(c.t0)
	l.total++
	measured := !c.t0.Before(l.w.from)
	if measured {
		l.statuses[r.Status]++
	}
	switch {
	case r.Status != c.want:
		if measured {
			l.errs++
		}
		if l.firstErr == "" {
			l.firstErr = fmt.Sprintf("status %d, want %d: %s", r.Status, c.want, r.Body)
		}
	case measured:
		l.ok++
		l.lat = append(l.lat, dt)
	}
	c.inflight, c.in = false, c.in[:0]
	if r.Close || eof {
		l.disconnect(c)
	}
	l.send(c, now)
}

func (l *evLoop) run() {
	events := make([]syscall.EpollEvent, len(l.conns))
	now := time.Now()
	for _, c := range l.conns {
		l.send(c, now)
	}
	abandon := l.w.until.Add(evAbandonAfter)
	for {
		now = time.Now()
		busy := false
		wait := 100 * time.Millisecond
		for _, c := range l.conns {
			switch {
			case c.inflight && now.Sub(c.t0) > evRequestTimeout:
				l.fail(c, now, fmt.Errorf("no answer in %s", evRequestTimeout))
			case !c.inflight && c.fd < 0 && now.Before(l.w.until):
				if !now.Before(c.retryAt) {
					l.send(c, now)
				} else {
					wait = min(wait, c.retryAt.Sub(now))
				}
			}
			busy = busy || c.inflight || (c.fd < 0 && now.Before(l.w.until))
		}
		if !busy || now.After(abandon) {
			return
		}
		n, err := syscall.EpollWait(l.epfd, events, int(max(wait, time.Millisecond)/time.Millisecond))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if l.firstErr == "" {
				l.firstErr = "epoll_wait: " + err.Error()
			}
			return
		}
		now = time.Now()
		for _, ev := range events[:n] {
			c := l.conns[ev.Fd]
			if c.fd < 0 {
				continue
			}
			if ev.Events&syscall.EPOLLOUT != 0 && len(c.out) > 0 {
				l.flush(c, now)
				if c.fd >= 0 && len(c.out) == 0 {
					back := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.idx)}
					if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &back); err != nil {
						l.fail(c, now, err)
					}
				}
			}
			if c.fd >= 0 && ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				l.readable(c, now)
			}
		}
	}
}
