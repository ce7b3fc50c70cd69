//go:build unix

// Package devstack is what `gatehouse dev` adds around the regular server so
// that the whole system runs on one machine with nothing configured: a
// private PostgreSQL cluster (TLS on, the two roles of schema/roles.sql, the
// schema applied as the migrator) and an in-process S3 server. (The local
// scanner standing in for GuardDuty and the console mail page run beside
// the server rather than before it, so they are not components.) It is
// never used in production; only the root package's dev command imports it.
//
// A Stack owns one data directory (by default .data/ in the repository) and
// starts Components in it, in order, each in its own subdirectory. Every
// component returns the environment variables its presence implies (the
// database's DB_HOST, DB_PORT, DB_APP_USER and so on), so the server is
// configured through the regular config.Load exactly as in production, and
// the links worth printing in the banner. Stop stops them in reverse order.
//
// Components are defined where their dependencies may be imported: adapters
// do not import each other, so a component that composes adapters (the
// database: pgcluster plus postgres.Migrator; S3: s3local) is written in the
// root package and handed to Start.
//
// One `gatehouse dev` at a time may use a data directory: Start takes an
// exclusive lock (flock) on DataDir/dev.lock, released by Stop or by the
// process's death, and a second Start fails at once with an
// *AlreadyRunningError naming the process that holds it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Component is one part of the local system.
type Component interface {
	// Name names the component in logs and errors, and its subdirectory
	// of the data directory ("postgres").
	Name() string
	// Start brings the component up with its state in dir (created, and
	// kept between runs) and returns once it is ready. Cancelling ctx
	// abandons the start.
	Start(ctx context.Context, dir string, log *slog.Logger) (*Running, error)
}

// Running is a started component.
type Running struct {
	// Env holds the variables the component implies for config.Load.
	Env map[string]string
	// Links are what the banner shows, secrets already redacted.
	Links []Link
	// Stop stops the component and waits for it.
	Stop func() error
	// Exited, when not nil, is closed if the component stops by itself.
	Exited <-chan struct{}
}

// Link is one line of the banner: a name and an address.
type Link struct {
	Name, URL string
}

// Options configure Start.
type Options struct {
	// DataDir holds every component's state; it is created (mode 0711:
	// others may pass through, as the database's server user must, but
	// not list it) when missing.
	DataDir string
	// Components are started in order and stopped in reverse.
	Components []Component
}

// AlreadyRunningError says another process uses the data directory.
type AlreadyRunningError struct {
	PID     int // 0 when the other process has not yet written its pid
	DataDir string
}

func (e *AlreadyRunningError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("gatehouse dev is already running (%s) with data in %s", pid, e.DataDir)
}

// Stack is a running set of components.
type Stack struct {
	dir     string
	lock    *os.File
	env     map[string]string
	links   []Link
	running []started

	exited     chan struct{} // closed when a component stops by itself
	exitedOnce sync.Once
	stopping   chan struct{} // closed when Stop begins

	stopOnce sync.Once
	stopErr  error
}

type started struct {
	name string
	r    *Running
}

// Start locks opts.DataDir and starts the components in order. If one fails,
// those already started are stopped and the lock released. log receives
// progress messages.
func Start(ctx context.Context, opts Options, log *slog.Logger) (_ *Stack, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("devstack: no data directory")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	if err := makeDataDir(dir); err != nil {
		return nil, err
	}
	lock, err := acquire(dir)
	if err != nil {
		return nil, err
	}
	s := &Stack{dir: dir, lock: lock, env: map[string]string{}, exited: make(chan struct{}), stopping: make(chan struct{})}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()
	seen := map[string]bool{}
	for _, c := range opts.Components {
		name := c.Name()
		if seen[name] || name == "" || strings.ContainsAny(name, `/\.`) {
			return nil, fmt.Errorf("devstack: component name %q is empty, repeated or not a plain directory name", name)
		}
		seen[name] = true
		cdir := filepath.Join(dir, name)
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			return nil, err
		}
		r, err := c.Start(ctx, cdir, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.running = append(s.running, started{name, r})
		for k, v := range r.Env {
			if prev, dup := s.env[k]; dup && prev != v {
				return nil, fmt.Errorf("devstack: %s and an earlier component both set %s", name, k)
			}
			s.env[k] = v
		}
		s.links = append(s.links, r.Links...)
		if r.Exited != nil {
			go s.watch(name, r.Exited, log)
		}
	}
	return s, nil
}

// makeDataDir creates dir if needed. A new directory is 0711 so that a
// component's server user (PostgreSQL's, when running as root) can pass
// through it to its own subdirectory; every file inside protects itself.
func makeDataDir(dir string) error {
	_, err := os.Stat(dir)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o711)
}

// acquire takes the data directory's lock without waiting and writes our
// pid into the lock file.
func acquire(dir string) (*os.File, error) {
	path := filepath.Join(dir, "dev.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			raw, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
			return nil, &AlreadyRunningError{PID: pid, DataDir: dir}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Env returns the variables the components imply, for config.Load. The map
// is a copy.
func (s *Stack) Env() map[string]string { return maps.Clone(s.env) }

// Links returns the components' banner lines, in start order.
func (s *Stack) Links() []Link { return append([]Link(nil), s.links...) }

// DataDir is the absolute data directory.
func (s *Stack) DataDir() string { return s.dir }

// Exited is closed when a component stops by itself (its server crashed,
// say); the caller should then stop the stack.
func (s *Stack) Exited() <-chan struct{} { return s.exited }

// watch reports a component that exits before Stop asked it to.
func (s *Stack) watch(name string, exited <-chan struct{}, log *slog.Logger) {
	select {
	case <-exited:
	case <-s.stopping:
		return
	}
	select {
	case <-s.stopping: // Stop was quicker to say so
	default:
		log.Error("devstack: a component stopped by itself", "component", name)
		s.exitedOnce.Do(func() { close(s.exited) })
	}
}

// Stop stops the components in reverse order and releases the lock. It
// returns every component's error; calling it again returns the same.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() {
		close(s.stopping)
		var errs []error
		for i := len(s.running) - 1; i >= 0; i-- {
			if err := s.running[i].r.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", s.running[i].name, err))
			}
		}
		errs = append(errs, s.lock.Close()) // closing releases the flock
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
