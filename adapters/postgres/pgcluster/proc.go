//go:build unix

package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgHBA allows TLS connections from the loopback address with SCRAM and
// nothing else: a client that does not use TLS is rejected outright, and
// there is no Unix socket.
const pgHBA = `# Written by gatehouse (adapters/postgres/pgcluster): TLS from loopback only.
hostssl   all all 127.0.0.1/32 scram-sha-256
hostnossl all all 0.0.0.0/0    reject
hostnossl all all ::/0         reject
`

// initdb creates a cluster in data whose superuser is superuser with the
// given password (SCRAM only), then replaces its pg_hba.conf with pgHBA.
// noSync skips initdb's final fsync: right for throw-away clusters only.
func initdb(ctx context.Context, bin, dir, data, superuser, password string, own owner, noSync bool) error {
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwFile)
	if err := own.chown(pwFile); err != nil {
		return err
	}
	args := []string{"-D", data, "-U", superuser, "--pwfile", pwFile, "--auth", "scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-instructions"}
	if noSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir, cmd.Env = dir, childEnv()
	cmd.SysProcAttr = own.sysProcAttr()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	hba := filepath.Join(data, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(pgHBA), 0o600); err != nil {
		return err
	}
	return own.chown(hba)
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

// portFree reports whether 127.0.0.1:port can be bound right now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// serverConfig is how one server process is started.
type serverConfig struct {
	bin, dir, data    string
	certFile, keyFile string
	logPath           string
	appendLog         bool
	port              int
	own               owner
	settings          []string       // -c settings beyond the common ones
	stopSignal        syscall.Signal // also sent by the kernel if we die first
}

// startPostgres runs the server as a child of this process; waitReady then
// tells when it accepts logins, or why it exited.
func startPostgres(sc serverConfig) (*proc, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if sc.appendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logFile, err := os.OpenFile(sc.logPath, flags, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	p := &proc{done: make(chan struct{}), logPath: sc.logPath}
	if fi, err := logFile.Stat(); err == nil {
		p.logStart = fi.Size()
	}
	settings := append([]string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(sc.port),
		"unix_socket_directories=",
		"ssl=on",
		"ssl_cert_file=" + sc.certFile,
		"ssl_key_file=" + sc.keyFile,
		"password_encryption=scram-sha-256",
		"log_min_messages=warning",
		// A failed statement could be a CREATE ROLE ... PASSWORD: never
		// write statements to the log.
		"log_min_error_statement=panic",
	}, sc.settings...)
	args := []string{"-D", sc.data}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(filepath.Join(sc.bin, "postgres"), args...)
	cmd.Dir, cmd.Env = sc.dir, childEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sc.own.sysProcAttr()
	// A process group of its own: Ctrl-C in a terminal reaches the
	// process that started the server, which stops it in its own time,
	// rather than the server itself.
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr, sc.stopSignal)
	p.cmd = cmd
	started := make(chan error, 1)
	go func() {
		defer close(p.done)
		// The kernel sends the parent-death signal when the *thread* that
		// started the child exits. Pinning this goroutine to its thread
		// until the child exits makes that happen only when this whole
		// process dies.
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
	return p, nil
}

// proc is a running server.
type proc struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	logPath  string
	logStart int64 // where this run's part of the log begins
}

// waitReady waits until the server accepts a TLS login at adminURL. A
// server that exits first because its port was taken after all gives
// errAddrInUse, so the caller can try another port.
func (p *proc) waitReady(ctx context.Context, adminURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-p.done:
			log := logSince(p.logPath, p.logStart)
			if bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("Address already in use")) {
				return errAddrInUse
			}
			return fmt.Errorf("postgres exited while starting:\n%s", tail(log))
		default:
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(attempt, adminURL)
		if err == nil {
			err = conn.Close(attempt)
			cancelAttempt()
			return err
		}
		cancelAttempt()
		lastErr = err
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("postgres did not accept connections within 2 minutes: %v\n%s", lastErr, tail(logSince(p.logPath, p.logStart)))
			}
			return ctx.Err()
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends the stop signal and waits for the server to exit: SIGQUIT is
// an immediate shutdown (no checkpoint; for throw-away data), SIGINT a fast
// one (open sessions are ended, then a checkpoint is written). A server
// still running after timeout is killed.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("postgres (pid %d) did not stop within %s and was killed", p.cmd.Process.Pid, timeout)
}

// logSince returns what the log file gained after offset.
func logSince(path string, offset int64) []byte {
	b, _ := os.ReadFile(path)
	if offset > 0 && offset <= int64(len(b)) {
		b = b[offset:]
	}
	return b
}

func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
