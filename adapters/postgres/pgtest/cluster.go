package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	superuser  = "gatehouse_admin"
	installMsg = "install PostgreSQL server binaries: apt-get install -y postgresql"
)

// pgHBA allows TLS connections from the loopback address with SCRAM and
// nothing else: a client that does not use TLS is rejected outright, and
// there is no Unix socket.
const pgHBA = `# Written by the gatehouse test harness.
hostssl   all all 127.0.0.1/32 scram-sha-256
hostnossl all all 0.0.0.0/0    reject
hostnossl all all ::/0         reject
`

// owner is who runs initdb and postgres. Both refuse to run as root, so when
// the tests run as root the cluster belongs to the "postgres" user.
type owner struct {
	cred *syscall.Credential // nil: the current user
}

func (o owner) chown(paths ...string) error {
	if o.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(o.cred.Uid), int(o.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

func clusterOwner() (owner, error) {
	if os.Geteuid() != 0 {
		return owner{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return owner{}, fmt.Errorf("running as root, and PostgreSQL refuses to: need the system user \"postgres\" to run the test cluster (%v); %s", err, installMsg)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return owner{}, fmt.Errorf("user postgres has a non-numeric uid/gid %s/%s", u.Uid, u.Gid)
	}
	return owner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
}

// binDir finds the directory holding initdb and postgres: initdb on PATH
// (resolving Debian's wrapper symlinks), else the newest
// /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin: " + installMsg)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// childEnv is the environment for initdb and postgres: ours without libpq's
// PG* variables, which would otherwise leak into the cluster's setup.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// startCluster creates and starts a private cluster in a temporary directory.
func startCluster() (s *server, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	own, err := clusterOwner()
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
	data := filepath.Join(dir, "data")
	certFile, keyFile, pwFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "pwfile")
	password := randomHex(16)

	cert, key, err := selfSignedCert()
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path string
		body []byte
	}{{certFile, cert}, {keyFile, key}, {pwFile, []byte(password + "\n")}} {
		if err := os.WriteFile(f.path, f.body, 0o600); err != nil {
			return nil, err
		}
	}
	if err := own.chown(dir, certFile, keyFile, pwFile); err != nil {
		return nil, err
	}

	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", superuser, "--pwfile", pwFile, "--auth", "scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Dir, initdb.Env = dir, childEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: own.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := os.Remove(pwFile); err != nil {
		return nil, err
	}
	hba := filepath.Join(data, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(pgHBA), 0o600); err != nil {
		return nil, err
	}
	if err := own.chown(hba); err != nil {
		return nil, err
	}

	// The port is free when we look, but another process may take it before
	// the server binds it: try a few.
	var proc *pgProc
	var port int
	for attempt := 0; ; attempt++ {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		proc, err = startPostgres(bin, dir, data, certFile, keyFile, port, own)
		if err == nil {
			break
		}
		if attempt == 4 || !errors.Is(err, errAddrInUse) {
			return nil, err
		}
	}

	admin := &url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, password),
		Host:     hostPort("127.0.0.1", port),
		Path:     "/postgres",
		RawQuery: url.Values{"sslmode": {"require"}}.Encode(),
	}
	if err := waitReady(proc, admin.String(), filepath.Join(dir, "postgres.log")); err != nil {
		stopPostgres(proc)
		return nil, err
	}
	return &server{
		admin:   admin,
		host:    "127.0.0.1",
		port:    port,
		sslMode: "require",
		caFile:  certFile,
		stopCluster: func() error {
			stopPostgres(proc)
			return os.RemoveAll(dir)
		},
	}, nil
}

var errAddrInUse = errors.New("port already in use")

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startPostgres runs the server as a child of the test binary. Pdeathsig
// makes the kernel stop it (immediate shutdown) if the test binary dies
// without running Main's cleanup, e.g. on a test timeout.
func startPostgres(bin, dir, data, certFile, keyFile string, port int, own owner) (*pgProc, error) {
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	settings := []string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(port),
		"unix_socket_directories=",
		"ssl=on",
		"ssl_cert_file=" + certFile,
		"ssl_key_file=" + keyFile,
		"password_encryption=scram-sha-256",
		// Durability is worthless for throw-away test data; speed is not.
		"fsync=off",
		"synchronous_commit=off",
		"full_page_writes=off",
		"max_connections=200",
		"shared_buffers=32MB",
		"log_min_messages=warning",
		"log_min_error_statement=panic",
	}
	args := []string{"-D", data}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir, cmd.Env = dir, childEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: own.cred, Pdeathsig: syscall.SIGQUIT}
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The kernel sends Pdeathsig when the *thread* that started the
		// child exits. Pinning this goroutine to its thread until the child
		// exits makes that happen only when the whole test binary dies.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	// Give a bind failure a moment to show up before declaring success; the
	// readiness loop catches anything later.
	select {
	case <-done:
	case <-time.After(300 * time.Millisecond):
		return &pgProc{cmd: cmd, done: done}, nil
	}
	log, _ := os.ReadFile(logPath)
	if bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("Address already in use")) {
		return nil, fmt.Errorf("%w: %d", errAddrInUse, port)
	}
	return nil, fmt.Errorf("postgres exited at start:\n%s", tail(log))
}

// pgProc is a running server.
type pgProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func waitReady(proc *pgProc, adminURL, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-proc.done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited while starting:\n%s", tail(log))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, adminURL)
		if err == nil {
			err = conn.Close(ctx)
			cancel()
			return err
		}
		cancel()
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	return fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", lastErr, tail(log))
}

// stopPostgres asks for an immediate shutdown (the data is thrown away) and
// waits for the server to exit.
func stopPostgres(proc *pgProc) {
	_ = proc.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-proc.done:
	case <-time.After(30 * time.Second):
		_ = proc.cmd.Process.Kill()
		<-proc.done
	}
}

func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
