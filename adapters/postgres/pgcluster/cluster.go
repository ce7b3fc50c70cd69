//go:build unix

// Package pgcluster runs a private PostgreSQL server from the server binaries
// installed on this machine, for the test harness (pgtest) and for
// `gatehouse dev`. It is never used in production.
//
// A cluster is made with initdb (scram-sha-256 only), serves TLS with a
// certificate made in Go at every start, and accepts only hostssl logins
// from 127.0.0.1 (pg_hba rejects everything else; there is no Unix socket).
// The server is a child process on a loopback port. PostgreSQL refuses to
// run as root, so when the caller is root the cluster belongs to, and runs
// as, the system user "postgres".
//
// Start makes one of two kinds of cluster:
//
//   - Throw-away (Options.Dir empty): a new temporary directory, durability
//     off for speed, an immediate shutdown and the directory removed by Stop.
//   - Persistent (Options.Dir set): the first Start runs initdb and records
//     the superuser's password in Dir/credentials.json (mode 0600); later
//     Starts reuse the cluster and listen on the previous port when it is
//     free. Durability stays on (only synchronous_commit is off, which can
//     lose the last moments of work in a crash but never corrupts), and Stop
//     is a fast shutdown that writes a checkpoint. EnsureDatabase adds a
//     database bootstrapped with schema/roles.sql whose role passwords are
//     kept in the same file.
//
// A persistent directory looks like this (the pg subdirectory belongs to the
// server's user; the rest to the caller):
//
//	Dir/credentials.json   passwords and the last port (0600)
//	Dir/postgres.log       the server's log
//	Dir/pg/data/           the cluster (PGDATA)
//	Dir/pg/server.crt      the TLS certificate, its own CA (a client may pin it)
//	Dir/pg/server.key
//
// When the server runs as "postgres", that user must be able to reach Dir:
// Start creates Dir searchable by others (mode 0711, nothing listable) and
// checks every directory above it, and fails with the directory that blocks
// the way and what to do about it.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Superuser is the name of the cluster's superuser.
const Superuser = "gatehouse_admin"

// Options configure Start.
type Options struct {
	// Dir is the persistent cluster's directory, created if missing. Empty
	// means a throw-away cluster in a new temporary directory.
	Dir string
	// Log receives progress messages; nil discards them.
	Log *slog.Logger
}

// Cluster is a running server.
type Cluster struct {
	dir        string
	persistent bool
	created    bool
	own        owner
	port       int
	password   string
	caFile     string
	logPath    string
	proc       *proc
	log        *slog.Logger

	stateMu sync.Mutex
	state   *state // persistent: what credentials.json holds

	stopOnce sync.Once
	stopErr  error
}

// Start creates (or, for a persistent Dir, reuses) a cluster and starts its
// server, returning once it accepts TLS logins. Cancelling ctx abandons the
// start and stops the server.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	own, err := clusterOwner()
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return startThrowaway(ctx, own, log)
	}
	return startPersistent(ctx, opts.Dir, own, log)
}

func startThrowaway(ctx context.Context, own owner, log *slog.Logger) (c *Cluster, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	c = &Cluster{dir: dir, own: own, created: true, password: randomPassword(), log: log}
	if err := c.makeLayout(); err != nil {
		return nil, err
	}
	if err := checkReachable(own, bin, c.pgDir()); err != nil {
		return nil, err
	}
	if err := initdb(ctx, bin, c.pgDir(), c.dataDir(), Superuser, c.password, own, true); err != nil {
		return nil, err
	}
	err = c.run(ctx, bin, 0, []string{
		// Durability is worthless for throw-away test data; speed is not.
		"fsync=off",
		"synchronous_commit=off",
		"full_page_writes=off",
		"max_connections=200",
		"shared_buffers=32MB",
	}, 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func startPersistent(ctx context.Context, dir string, own owner, log *slog.Logger) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, persistent: true, own: own, log: log}
	if err := c.makeLayout(); err != nil {
		return nil, err
	}
	st, err := readState(c.stateFile())
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION"))
	exists := statErr == nil
	switch {
	case exists && st == nil:
		return nil, fmt.Errorf("%s holds a PostgreSQL cluster but %s, which has its passwords, is missing: remove %s to start afresh (its data is lost)", c.dataDir(), c.stateFile(), dir)
	case st != nil && !st.Initialized:
		exists = false // a first start stopped half-way: nobody has used it
	}
	bin, err := binDirFor(c.dataDir())
	if err != nil {
		return nil, err
	}
	if err := checkReachable(own, bin, c.pgDir()); err != nil {
		return nil, err
	}
	if !exists {
		// Whatever is there is not a cluster (or half of one): initdb
		// needs an empty directory.
		if err := os.RemoveAll(c.dataDir()); err != nil {
			return nil, err
		}
		st = &state{SuperuserPassword: randomPassword()}
		if err := writeState(c.stateFile(), st); err != nil {
			return nil, err
		}
		log.Info("postgres: creating a cluster (initdb)", "dir", dir)
		if err := initdb(ctx, bin, c.pgDir(), c.dataDir(), Superuser, st.SuperuserPassword, own, false); err != nil {
			return nil, err
		}
		st.Initialized = true
		if err := writeState(c.stateFile(), st); err != nil {
			return nil, err
		}
		c.created = true
	} else {
		if err := checkOwnedBy(own, c.dataDir()); err != nil {
			return nil, err
		}
		log.Info("postgres: reusing the cluster", "dir", dir)
	}
	c.state, c.password = st, st.SuperuserPassword
	prefer := 0
	if st.Port > 0 && portFree(st.Port) {
		prefer = st.Port
	}
	if err := c.run(ctx, bin, prefer, []string{"synchronous_commit=off"}, 365*24*time.Hour); err != nil {
		return nil, err
	}
	if st.Port != c.port {
		c.stateMu.Lock()
		st.Port = c.port
		err := writeState(c.stateFile(), st)
		c.stateMu.Unlock()
		if err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// makeLayout creates Dir (searchable by the server's user when that is
// another user) and Dir/pg, owned by the server's user.
func (c *Cluster) makeLayout() error {
	mode := fs.FileMode(0o700)
	if c.own.cred != nil {
		mode = 0o711
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(c.dir, mode); err != nil {
		return err
	}
	if err := os.Mkdir(c.pgDir(), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return c.own.chown(c.pgDir())
}

// run writes a fresh certificate, then starts the server on prefer (when not
// zero) or a free port, retrying when another process takes the port first.
func (c *Cluster) run(ctx context.Context, bin string, prefer int, settings []string, certLife time.Duration) error {
	certFile, keyFile := filepath.Join(c.pgDir(), "server.crt"), filepath.Join(c.pgDir(), "server.key")
	cert, key, err := selfSignedCert(certLife)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		body []byte
	}{{certFile, cert}, {keyFile, key}} {
		if err := writeFileAtomic(f.path, f.body, c.own); err != nil {
			return err
		}
	}
	c.caFile, c.logPath = certFile, filepath.Join(c.dir, "postgres.log")
	sc := serverConfig{
		bin: bin, dir: c.pgDir(), data: c.dataDir(), certFile: certFile, keyFile: keyFile,
		logPath: c.logPath, appendLog: c.persistent, own: c.own, settings: settings,
		stopSignal: c.stopSignal(),
	}
	// The port is free when we look, but another process may take it
	// before the server binds it: try a few.
	for attempt := 0; ; attempt++ {
		sc.port = prefer
		if sc.port == 0 || attempt > 0 {
			if sc.port, err = freePort(); err != nil {
				return err
			}
		}
		p, err := startPostgres(sc)
		if err != nil {
			return err
		}
		err = p.waitReady(ctx, c.adminURL(sc.port, ""))
		if err == nil {
			c.proc, c.port = p, sc.port
			break
		}
		_ = p.stop(c.stopSignal(), time.Minute)
		if attempt == 4 || !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	c.log.Info("postgres: ready", "port", c.port, "log", c.logPath)
	return nil
}

// stopSignal asks for an immediate shutdown of throw-away clusters and a
// fast one (with a checkpoint) of persistent ones.
func (c *Cluster) stopSignal() syscall.Signal {
	if c.persistent {
		return syscall.SIGINT
	}
	return syscall.SIGQUIT
}

func (c *Cluster) pgDir() string     { return filepath.Join(c.dir, "pg") }
func (c *Cluster) dataDir() string   { return filepath.Join(c.dir, "pg", "data") }
func (c *Cluster) stateFile() string { return filepath.Join(c.dir, "credentials.json") }

// Host is the address the server listens on: 127.0.0.1.
func (c *Cluster) Host() string { return "127.0.0.1" }

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's directory (absolute for a persistent cluster).
func (c *Cluster) Dir() string { return c.dir }

// CredentialsFile is the file that holds a persistent cluster's passwords.
func (c *Cluster) CredentialsFile() string { return c.stateFile() }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return c.logPath }

// Created reports whether this Start ran initdb, rather than reusing an
// existing persistent cluster.
func (c *Cluster) Created() bool { return c.created }

// CAFile is a PEM file that verifies the server's certificate, for sslmode
// verify-ca or verify-full against 127.0.0.1. It changes at every start.
func (c *Cluster) CAFile() string { return c.caFile }

// PID is the server's process id.
func (c *Cluster) PID() int { return c.proc.cmd.Process.Pid }

// Exited is closed when the server process has exited, whether Stop ended
// it or it stopped by itself.
func (c *Cluster) Exited() <-chan struct{} { return c.proc.done }

// AdminURL is the superuser's URL for database dbName (the maintenance
// database "postgres" when empty), with sslmode=require.
func (c *Cluster) AdminURL(dbName string) string { return c.adminURL(c.port, dbName) }

func (c *Cluster) adminURL(port int, dbName string) string {
	if dbName == "" {
		dbName = "postgres"
	}
	u := &url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, c.password),
		Host:     net.JoinHostPort(c.Host(), strconv.Itoa(port)),
		Path:     "/" + dbName,
		RawQuery: url.Values{"sslmode": {"require"}}.Encode(),
	}
	return u.String()
}

// Stop shuts the server down and waits for it: immediately for a
// throw-away cluster, whose directory it then removes; with a fast shutdown
// (sessions ended, checkpoint written) for a persistent one. Calling it
// again returns the first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.proc != nil {
			errs = append(errs, c.proc.stop(c.stopSignal(), time.Minute))
		}
		if !c.persistent {
			errs = append(errs, os.RemoveAll(c.dir))
		} else {
			c.log.Info("postgres: stopped", "dir", c.dir)
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// writeFileAtomic replaces path with body (mode 0600, owned by own) so that
// a reader never sees half a file.
func writeFileAtomic(path string, body []byte, own owner) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		return err
	}
	if err := own.chown(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
