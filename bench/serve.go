package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse/gatehouse/adapters/s3/s3local"
)

// Credentials of the local S3 stand-in. They sign presigned URLs; nothing
// leaves this machine.
const (
	benchRegion    = "us-east-1"
	benchAccessKey = "AKIABENCHEXAMPLE0001"
	benchSecretKey = "bench/secret/key/not/a/real/one/0000000"
)

// moduleRoot finds the directory of gatehouse's go.mod from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/gatehouse/gatehouse\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the gatehouse module (no go.mod declaring github.com/gatehouse/gatehouse above the working directory)")
		}
		dir = parent
	}
}

// pprofOverlay is added to the root package at build time (go build
// -overlay) when profiles are asked for: a pprof listener on
// GATEHOUSE_BENCH_PPROF_ADDR. The repository's files are not touched, and
// the binary is otherwise the one `make build` makes.
const pprofOverlay = `package main

import (
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("GATEHOUSE_BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go func() { _ = http.ListenAndServe(addr, mux) }()
}
`

// buildGatehouse builds the gatehouse binary from the module root into dir,
// with the pprof listener when withPprof.
func buildGatehouse(ctx context.Context, root, dir string, withPprof bool) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	args := []string{"build", "-o", bin}
	if withPprof {
		src := filepath.Join(dir, "zz_bench_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
			return "", err
		}
		ov := filepath.Join(dir, "overlay.json")
		body := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(root, "zz_bench_pprof.go"), src)
		if err := os.WriteFile(ov, []byte(body), 0o600); err != nil {
			return "", err
		}
		args = append(args, "-overlay", ov)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// s3Stub is the S3 endpoint on loopback the server is configured with:
// s3local (gofakes3 with S3's checks) behind a request counter, so the
// report can say how many S3 calls a scenario made (POST /v1/uploads only
// presigns: none). It is also the endpoint of every other AWS service and
// of the mail provider, so that nothing is sent anywhere else.
type s3Stub struct {
	srv      *http.Server
	addr     string
	requests atomic.Int64
}

func startS3Stub() (*s3Stub, error) {
	fake, err := s3local.New(s3local.Config{
		Buckets: []string{benchBucket}, Region: benchRegion,
		Credentials: aws.Credentials{AccessKeyID: benchAccessKey, SecretAccessKey: benchSecretKey},
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &s3Stub{addr: ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		fake.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *s3Stub) url() string { return "http://" + s.addr }

func (s *s3Stub) close() { _ = s.srv.Close() }

// server is a running `gatehouse serve`.
type server struct {
	cmd       *exec.Cmd
	addr      string
	pprofAddr string
	stderr    *tailBuffer
	done      chan struct{}
	err       error
}

// serveEnv is the whole environment of the server: the database's
// settings, the S3 stand-in, a mail provider that is never called (the
// outbox dispatcher is off: the outbox scenario runs it in its own
// process), X-Forwarded-For trusted from loopback (the login scenario gives
// each request its own client address, as many users behind a load
// balancer would have, so the per-address rate limit does not refuse
// them), and warn-level logs: at info the server writes an access log line
// per request. GOMAXPROCS is left to Go's default.
func serveEnv(db *database, s3 *s3Stub, addr, pprofAddr, home string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"LOG_LEVEL=warn",
		"HTTP_ADDR=" + addr,
		"APP_BASE_URL=https://app.example.com",
		"TRUSTED_PROXIES=127.0.0.1/32",
		"DB_HOST=" + db.cfg.Host,
		"DB_PORT=" + strconv.Itoa(db.cfg.Port),
		"DB_NAME=" + db.cfg.Name,
		"DB_SSLMODE=require",
		"DB_APP_USER=" + db.cfg.AppUser,
		"DB_APP_PASSWORD=" + db.cfg.AppPassword.Reveal(),
		"DB_MIGRATOR_USER=" + db.cfg.MigratorUser,
		"DB_MIGRATOR_PASSWORD=" + db.cfg.MigratorPassword.Reveal(),
		"DB_MAX_CONNS=" + strconv.Itoa(db.cfg.MaxConns),
		"OUTBOX_DISPATCHER_ENABLED=false",
		"EMAIL_PROVIDER=resend",
		"RESEND_API_KEY=re_bench_not_a_key",
		"RESEND_BASE_URL=" + s3.url() + "/",
		"FROM_EMAIL=bench@example.com",
		"AWS_REGION=" + benchRegion,
		"AWS_ACCESS_KEY_ID=" + benchAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + benchSecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_ENDPOINT_URL=" + s3.url(),
		"S3_BUCKET=" + benchBucket,
		"S3_ENDPOINT=" + s3.url(),
		"S3_USE_PATH_STYLE=true",
	}
	if pprofAddr != "" {
		env = append(env, "GATEHOUSE_BENCH_PPROF_ADDR="+pprofAddr)
	}
	return env
}

// startServer starts `gatehouse serve` and waits until /readyz answers 200.
func startServer(ctx context.Context, bin string, db *database, s3 *s3Stub, home string, withPprof bool, extraEnv []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr := ""
	if withPprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	s := &server{addr: addr, pprofAddr: pprofAddr, stderr: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(serveEnv(db, s3, addr, pprofAddr, home), extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.start(ctx, "gatehouse serve"); err != nil {
		return nil, err
	}
	return s, nil
}

// start starts s.cmd and waits until its /readyz answers 200; name says
// what it is in errors.
func (s *server) start(ctx context.Context, name string) error {
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited while starting (%v):\n%s", name, s.err, s.stderr)
		case <-ctx.Done():
			s.stop()
			return ctx.Err()
		default:
		}
		c := &httpConn{addr: s.addr}
		status, _, err := c.do(httpRequest(nil, "GET", "/readyz", nil, nil), 200)
		c.close()
		if err == nil && status == 200 {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s not ready after 60s (last: status %d, %v):\n%s", name, status, err, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop asks the server to shut down (SIGTERM) and waits for it.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// cpuProfile fetches a CPU profile of seconds from the server's pprof
// listener into path.
func (s *server) cpuProfile(path string, seconds int) error {
	if s.pprofAddr == "" {
		return errors.New("the server was built without pprof")
	}
	c := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprofAddr, seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("pprof: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// lines counts the lines written so far.
func (t *tailBuffer) lines() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Count(string(t.b), "\n")
}
