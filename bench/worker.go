package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// The verdicts and outbox scenarios run gatehouse's code in a process of
// their own, started from this program's binary with workerEnv set: the
// Lambda function's path for a scan result (the envelope, guardduty.Decode,
// app.Uploads.HandleVerdict over the PostgreSQL store) and the outbox
// dispatcher (app.Dispatcher over postgres.OutboxQueue). Its CPU and memory
// are then measured like the server's. The harness drives it with one JSON
// command per line on stdin and reads one JSON answer per line on stdout.
//
// Running the function under the Lambda Runtime Interface Emulator would
// serialise invocations (the emulator runs one at a time), so the verdicts
// are applied by C goroutines calling the same code, as C concurrent
// execution environments would. The object store is the in-memory one
// (adapters/inmem): S3 is remote in production, and a local S3 server on
// these two cores would measure itself.

// workerEnv, when set (to the scenario's name) in a process's environment,
// makes RunWorkerIfChild serve as the worker.
const workerEnv = "GATEHOUSE_BENCH_WORKER"

// Environment of the worker: the app role's database URL and pool size.
const (
	workerDSNEnv   = "GATEHOUSE_BENCH_DSN"
	workerConnsEnv = "GATEHOUSE_BENCH_MAX_CONNS"
)

// workerCmd is a command to the worker.
type workerCmd struct {
	Cmd         string        `json:"cmd"` // prepare, capture, run, quit
	N           int           `json:"n,omitempty"`
	Concurrency int           `json:"concurrency,omitempty"`
	Warmup      time.Duration `json:"warmup,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
}

// workerReply is the worker's answer.
type workerReply struct {
	Error    string        `json:"error,omitempty"`
	Identity identity      `json:"identity,omitempty"`
	Result   *workerResult `json:"result,omitempty"`
}

// workerResult is what a run measured.
type workerResult struct {
	Ops       int64           `json:"ops"`
	Total     int64           `json:"total"` // every op, warm-up included
	Errors    int64           `json:"errors"`
	FirstErr  string          `json:"first_err,omitempty"`
	Window    time.Duration   `json:"window"`
	Latencies []time.Duration `json:"latencies"` // sorted
	// Exhausted is set when the prepared work ran out before the window's
	// end; Window is then cut at that moment.
	Exhausted bool  `json:"exhausted,omitempty"`
	Batches   int64 `json:"batches,omitempty"`
}

// RunWorkerIfChild serves as the worker and exits when this process was
// started as one; otherwise it returns at once. Call it first in main (and
// in TestMain).
func RunWorkerIfChild() {
	runFloorIfChild()
	scenario := os.Getenv(workerEnv)
	if scenario == "" {
		return
	}
	if err := runWorker(scenario, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type workerScenario interface {
	prepare(ctx context.Context, n int) error
	capture(ctx context.Context) (identity, error)
	run(ctx context.Context, conc int, w window) workerResult
}

func runWorker(scenario string, in io.Reader, out io.Writer) error {
	ctx := context.Background()
	conns, _ := strconv.Atoi(os.Getenv(workerConnsEnv))
	db, err := postgres.Open(ctx, os.Getenv(workerDSNEnv), max(conns, 1))
	if err != nil {
		return err
	}
	defer db.Close()
	// The production logger at LOG_LEVEL=warn.
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var sc workerScenario
	switch scenario {
	case "verdicts":
		sc, err = newVerdictWorker(db, log)
	case "outbox":
		sc, err = newOutboxWorker(db, log)
	default:
		err = fmt.Errorf("unknown worker scenario %q", scenario)
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	for {
		var cmd workerCmd
		if err := dec.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var rep workerReply
		switch cmd.Cmd {
		case "prepare":
			if err := sc.prepare(ctx, cmd.N); err != nil {
				rep.Error = err.Error()
			}
		case "capture":
			id, err := sc.capture(ctx)
			rep.Identity = id
			if err != nil {
				rep.Error = err.Error()
			}
		case "run":
			res := sc.run(ctx, cmd.Concurrency, newWindow(cmd.Warmup, cmd.Duration))
			rep.Result = &res
		case "quit":
			return enc.Encode(rep)
		default:
			rep.Error = "unknown command " + cmd.Cmd
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// verdictWorker applies GuardDuty scan results through the Lambda
// function's path.
type verdictWorker struct {
	db      *bun.DB
	store   *postgres.Store
	objects *inmem.ObjectStore
	uploads *app.Uploads
	log     *slog.Logger
	owners  []string

	mu     sync.Mutex
	events []verdictEvent
	next   atomic.Int64
}

type verdictEvent struct {
	payload []byte
	id      identity
}

// verdictFilenamePrefix marks the uploads the verdicts scenario made, so
// the harness can find them for the ceiling.
const verdictFilenamePrefix = "verdict-scan-"

func newVerdictWorker(db *bun.DB, log *slog.Logger) (*verdictWorker, error) {
	store := postgres.NewStore(db)
	objects := inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://127.0.0.1:9/", Bucket: benchBucket})
	cfg := app.DefaultUploadsConfig()
	cfg.Bucket = benchBucket
	uploads, err := app.NewUploads(app.UploadStores{Tx: store, Uploads: store, Outbox: store}, objects, wallClock{}, cfg, log.With("component", "uploads"))
	if err != nil {
		return nil, err
	}
	w := &verdictWorker{db: db, store: store, objects: objects, uploads: uploads, log: log.With("component", "lambda")}
	rows, err := db.DB.Query(`SELECT id FROM users ORDER BY id LIMIT 1000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		w.owners = append(w.owners, id)
	}
	if len(w.owners) == 0 {
		return nil, errors.New("no users to own the uploads")
	}
	return w, rows.Err()
}

// pngBody is the content of every scanned file: a PNG signature, so that
// the promotion's content check passes, and padding.
var pngBody = append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 248)...)

// prepare makes n uploads that wait for their scan (scanning, with their
// object version recorded), puts their objects in the store, and the
// clean scan results that will settle them.
func (w *verdictWorker) prepare(ctx context.Context, n int) error {
	rng := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(time.Now().UnixNano())})
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := make([][]any, 0, n)
	events := make([]verdictEvent, 0, n)
	for i := range n {
		id, err := domain.NewID(now, rng)
		if err != nil {
			return err
		}
		owner := w.owners[i%len(w.owners)]
		u, err := domain.NewUpload(domain.NewUploadParams{
			ID: id, OwnerID: owner, Bucket: benchBucket, Key: "quarantine/" + id,
			Filename: fmt.Sprintf("%s%07d.png", verdictFilenamePrefix, i), ContentType: "image/png", SizeBytes: int64(len(pngBody)),
		}, domain.DefaultUploadPolicy(), now)
		if err != nil {
			return err
		}
		info := w.objects.Put(u.Key, u.ContentType, pngBody)
		if _, err := u.Complete(domain.ObjectInfo{Bucket: info.Bucket, Key: info.Key, VersionID: info.VersionID, ETag: info.ETag,
			ContentType: info.ContentType, SizeBytes: info.Size}, now); err != nil {
			return err
		}
		row, err := uploadRow(u)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		v := domain.ScanVerdict{Bucket: u.Bucket, Key: u.Key, VersionID: u.VersionID, ETag: u.ETag,
			ScanStatus: domain.ScanStatusCompleted, Result: domain.ScanNoThreatsFound}
		evID, err := domain.NewID(now, rng)
		if err != nil {
			return err
		}
		payload, err := guardduty.Encode(v, evID, now)
		if err != nil {
			return err
		}
		events = append(events, verdictEvent{payload: payload, id: identity{
			"upload_id": u.ID, "user_id": owner, "version_id": u.VersionID, "etag": u.ETag}})
	}
	if err := copyAsApp(ctx, w.db, "uploads", []string{"id", "owner_id", "bucket", "key", "created_at", "filename", "content_type", "size_bytes", "sha256", "status",
		"version_id", "etag", "completed_at", "verdict", "scan_result", "scan_code", "scan_reason", "scan_threats", "scan_completed_at", "updated_at"}, rows); err != nil {
		return err
	}
	w.mu.Lock()
	w.events = events
	w.next.Store(0)
	w.mu.Unlock()
	return nil
}

// copyAsApp COPYs rows in through the worker's own pool (the app role,
// which may insert).
func copyAsApp(ctx context.Context, db *bun.DB, table string, cols []string, rows [][]any) error {
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return errors.New("the driver connection is not pgx's")
		}
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{"gatehouse", table}, cols, pgx.CopyFromRows(rows))
		return err
	})
}

// lambdaEnvelope is what the function reads of every payload first.
type lambdaEnvelope struct {
	Gatehouse  string `json:"gatehouse"`
	ID         string `json:"id"`
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// invoke is one invocation with payload, as the function handles a scan
// result: the envelope, the decoding, the verdict, the response.
func (w *verdictWorker) invoke(ctx context.Context, payload []byte) error {
	var env lambdaEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return err
	}
	v, err := guardduty.Decode(payload)
	if err != nil {
		return err
	}
	if err := w.uploads.HandleVerdict(ctx, v); err != nil {
		return err
	}
	_, err = json.Marshal(struct {
		Outcome string `json:"outcome"`
	}{"handled"})
	return err
}

func (w *verdictWorker) take() (verdictEvent, bool) {
	i := w.next.Add(1) - 1
	w.mu.Lock()
	defer w.mu.Unlock()
	if int(i) >= len(w.events) {
		return verdictEvent{}, false
	}
	return w.events[i], true
}

func (w *verdictWorker) capture(ctx context.Context) (identity, error) {
	ev, ok := w.take()
	if !ok {
		return nil, errors.New("nothing prepared")
	}
	return ev.id, w.invoke(ctx, ev.payload)
}

func (w *verdictWorker) run(ctx context.Context, conc int, win window) workerResult {
	return closedLoop(conc, win, func() (bool, error) {
		ev, ok := w.take()
		if !ok {
			return false, nil
		}
		return true, w.invoke(ctx, ev.payload)
	})
}

// closedLoop runs op from conc goroutines until the window ends or op
// reports there is no more work.
func closedLoop(conc int, win window, op func() (bool, error)) workerResult {
	var (
		mu        sync.Mutex
		res       workerResult
		lat       []time.Duration
		exhausted atomic.Int64 // unix nanos of the first exhaustion
	)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			var ok, errs, total int64
			var firstErr string
			for {
				t0 := time.Now()
				if !t0.Before(win.until) {
					break
				}
				more, err := op()
				if !more {
					exhausted.CompareAndSwap(0, time.Now().UnixNano())
					break
				}
				dt := time.Since(t0)
				total++
				if t0.Before(win.from) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				ok++
				mine = append(mine, dt)
			}
			mu.Lock()
			res.Ops += ok
			res.Total += total
			res.Errors += errs
			if res.FirstErr == "" {
				res.FirstErr = firstErr
			}
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Window = win.until.Sub(win.from)
	if t := exhausted.Load(); t != 0 {
		res.Exhausted = true
		res.Window = max(0, time.Unix(0, t).Sub(win.from))
	}
	slices.Sort(lat)
	res.Latencies = lat
	return res
}

// outboxWorker runs the outbox dispatcher against prepared mail.
type outboxWorker struct {
	db    *bun.DB
	queue *postgres.OutboxQueue
	log   *slog.Logger
}

func newOutboxWorker(db *bun.DB, log *slog.Logger) (*outboxWorker, error) {
	return &outboxWorker{db: db, queue: postgres.NewOutboxQueue(db), log: log}, nil
}

// prepare takes every pending row out of the way (earlier scenarios leave
// events behind) and enqueues n verification mails, due now.
func (o *outboxWorker) prepare(ctx context.Context, n int) error {
	if _, err := o.db.DB.ExecContext(ctx, `UPDATE outbox SET status = 'sent', sent_at = now(), locked_until = NULL WHERE status = 'pending'`); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'o', byte(n), byte(time.Now().UnixNano())})
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := make([][]any, 0, n)
	for i := range n {
		// Enqueued one after the other over the last n milliseconds, as
		// signups would have made them: each row is due at its own time.
		due := now.Add(-time.Duration(n-i) * time.Millisecond)
		id, err := domain.NewID(due, rng)
		if err != nil {
			return err
		}
		link := fmt.Sprintf("https://app.example.com/verify-email#token=%s", id)
		msg, err := domain.NewMailOutbox("verify_email", domain.MailMessage{
			ID: id, To: fmt.Sprintf("bench-user-%06d@example.com", i), Subject: "Confirm your email address",
			Text: "Welcome! Confirm your address by opening this link within 24 hours:\n\n" + link + "\n",
			HTML: `<p>Welcome! Confirm your address by opening <a href="` + link + `">this link</a> within 24 hours.</p>`,
		}, due)
		if err != nil {
			return err
		}
		rows = append(rows, []any{parseUUID(msg.ID), string(msg.Kind), msg.Topic, string(msg.Payload), "pending", 0, due, msg.CreatedAt})
	}
	return copyAsApp(ctx, o.db, "outbox", []string{"id", "kind", "topic", "payload", "status", "attempts", "next_attempt_at", "created_at"}, rows)
}

func (o *outboxWorker) capture(context.Context) (identity, error) {
	return nil, errors.New("the outbox scenario has no ceiling to capture for")
}

// instantMailer is a mail provider that accepts every valid message at
// once, as every real adapter validates first.
type instantMailer struct{}

func (instantMailer) Send(_ context.Context, msg domain.MailMessage) error { return msg.Validate() }

type instantEvents struct{}

func (instantEvents) Publish(_ context.Context, events []domain.Event) []error {
	return make([]error, len(events))
}

// sentCounter counts deliveries recorded as sent within a window.
type sentCounter struct {
	win  window
	sent atomic.Int64
	errs atomic.Int64
}

func (c *sentCounter) Attempted(_ domain.OutboxKind, result domain.DeliveryResult, _ time.Duration) {
	now := time.Now()
	if now.Before(c.win.from) || !now.Before(c.win.until) {
		return
	}
	if result == domain.DeliverySent {
		c.sent.Add(1)
	} else {
		c.errs.Add(1)
	}
}

var _ ports.OutboxObserver = (*sentCounter)(nil)

// run dispatches with conc mail sends in flight (OUTBOX_CONCURRENCY) until
// the window ends or the outbox is empty. Each pass claims a batch
// (OUTBOX_BATCH_SIZE, default 100), delivers it and records every outcome;
// the latencies are those of whole passes.
func (o *outboxWorker) run(ctx context.Context, conc int, win window) workerResult {
	counter := &sentCounter{win: win}
	cfg := app.DefaultDispatcherConfig()
	cfg.Concurrency = conc
	d, err := app.NewDispatcher(app.DispatcherPorts{Queue: o.queue, Mailer: instantMailer{}, Events: instantEvents{},
		Clock: wallClock{}, Observer: counter}, cfg, o.log)
	if err != nil {
		return workerResult{Errors: 1, FirstErr: err.Error()}
	}
	var res workerResult
	var lat []time.Duration
	for {
		t0 := time.Now()
		if !t0.Before(win.until) {
			break
		}
		r, err := d.RunOnce(ctx)
		dt := time.Since(t0)
		if err != nil {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
			continue
		}
		if !t0.Before(win.from) {
			lat = append(lat, dt)
			res.Batches++
		}
		if r.Claimed == 0 {
			res.Exhausted = true
			break
		}
	}
	res.Window = win.until.Sub(win.from)
	if res.Exhausted {
		res.Window = max(0, time.Since(win.from))
	}
	res.Ops = counter.sent.Load()
	res.Errors += counter.errs.Load()
	slices.Sort(lat)
	res.Latencies = lat
	return res
}

// workerProc is a running worker, seen from the harness.
type workerProc struct {
	cmd    *exec.Cmd
	enc    *json.Encoder
	dec    *bufio.Reader
	stderr *tailBuffer
}

// call sends a command and waits for its answer.
func (w *workerProc) call(cmd workerCmd) (workerReply, error) {
	if err := w.enc.Encode(cmd); err != nil {
		return workerReply{}, fmt.Errorf("worker: %w\n%s", err, w.stderr)
	}
	line, err := w.dec.ReadBytes('\n')
	if err != nil {
		return workerReply{}, fmt.Errorf("worker: %w\n%s", err, w.stderr)
	}
	var rep workerReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return workerReply{}, fmt.Errorf("worker: %w", err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("worker %s: %s\n%s", cmd.Cmd, rep.Error, w.stderr)
	}
	return rep, nil
}

// startWorker starts this program's binary as the worker of scenario,
// connected as the app role.
func startWorker(scenario string, db *database) (*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	w := &workerProc{stderr: &tailBuffer{max: 64 << 10}}
	w.cmd = exec.Command(exe)
	w.cmd.Env = append(os.Environ(), workerEnv+"="+scenario, workerDSNEnv+"="+db.cfg.DatabaseURL(),
		workerConnsEnv+"="+strconv.Itoa(db.cfg.MaxConns))
	w.cmd.Stderr = w.stderr
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := w.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	w.enc, w.dec = json.NewEncoder(stdin), bufio.NewReader(stdout)
	return w, nil
}

func (w *workerProc) pid() int { return w.cmd.Process.Pid }

// stop asks the worker to quit and waits for it.
func (w *workerProc) stop() {
	done := make(chan struct{})
	go func() {
		_, _ = w.call(workerCmd{Cmd: "quit"})
		_ = w.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
}
