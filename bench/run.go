package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
)

// Options configure a benchmark run.
type Options struct {
	Scenarios      []string // empty: all, in order
	Concurrency    []int
	Duration       time.Duration // measured, per run
	Warmup         time.Duration // before each run
	Users          int
	UploadsPerUser int
	// VerdictsPerRun and OutboxPerRun are how many scan results and mails
	// are prepared for each run; a run that uses them all up stops early.
	VerdictsPerRun int
	OutboxPerRun   int
	DBMaxConns     int
	SharedBuffers  string
	// Tune restarts the cluster with SharedBuffers and pg_stat_statements.
	Tune bool
	// Out is the Markdown file to write; "" writes none.
	Out string
	// ProfileDir, when set, gets CPU profiles of the server (built with a
	// pprof listener) taken during each HTTP scenario's middle run.
	ProfileDir string
	// Gatehouse is a prebuilt binary; "" builds one.
	Gatehouse string
	// ServerEnv are extra KEY=VALUE settings of the server's environment
	// (GOGC, GOMEMLIMIT... for experiments); the report lists them.
	ServerEnv []string
	// Command is how the run was started, for the report.
	Command string
	Log     *slog.Logger
	Stdout  io.Writer
}

// DefaultOptions are the values `make bench` uses.
func DefaultOptions() Options {
	return Options{
		Concurrency:    []int{8, 32, 64},
		Duration:       15 * time.Second,
		Warmup:         3 * time.Second,
		Users:          10000,
		UploadsPerUser: 100,
		VerdictsPerRun: 60000,
		OutboxPerRun:   250000,
		DBMaxConns:     10,
		SharedBuffers:  "1GB",
		Tune:           true,
	}
}

// Main is the command line of gatehouse-bench.
func Main(args []string, stdout, stderr io.Writer) int {
	RunWorkerIfChild()
	o := DefaultOptions()
	fs := flag.NewFlagSet("gatehouse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(scenarioNames(), ","), "scenarios to run, in order")
	conc := fs.String("concurrency", "8,32,64", "concurrent clients of each run, comma-separated")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured time of each run")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up before each run (not measured)")
	fs.IntVar(&o.Users, "users", o.Users, "users to seed (each with one session)")
	fs.IntVar(&o.UploadsPerUser, "uploads-per-user", o.UploadsPerUser, "accepted uploads to seed per user")
	fs.IntVar(&o.VerdictsPerRun, "verdicts-per-run", o.VerdictsPerRun, "scan results prepared for each verdicts run")
	fs.IntVar(&o.OutboxPerRun, "outbox-per-run", o.OutboxPerRun, "mails prepared for each outbox run")
	fs.IntVar(&o.DBMaxConns, "db-max-conns", o.DBMaxConns, "DB_MAX_CONNS of the server and the worker")
	fs.StringVar(&o.SharedBuffers, "shared-buffers", o.SharedBuffers, "PostgreSQL shared_buffers (with -tune)")
	fs.BoolVar(&o.Tune, "tune", o.Tune, "restart the cluster with -shared-buffers and pg_stat_statements")
	fs.StringVar(&o.Out, "out", "", "write the report to this Markdown file")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "take CPU profiles of the server into this directory")
	fs.StringVar(&o.Gatehouse, "gatehouse", "", "a prebuilt gatehouse binary (default: build one)")
	fs.StringVar(&o.Command, "command", "", "how this run was started, for the report (default: this command line)")
	fs.Func("server-env", "an extra KEY=VALUE in the server's environment, e.g. GOGC=200 (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want KEY=VALUE")
		}
		o.ServerEnv = append(o.ServerEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Scenarios = splitList(*scen)
	o.Concurrency = nil
	for _, c := range splitList(*conc) {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "bad -concurrency %q\n", *conc)
			return 2
		}
		o.Concurrency = append(o.Concurrency, n)
	}
	line := "go run ./bench/cmd/gatehouse-bench " + strings.Join(quoteArgs(args), " ")
	if o.Command == "" {
		o.Command = line
	} else {
		o.Command += "\n# which runs:\n" + line
	}
	o.Stdout = stdout
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse-bench:", err)
		return 1
	}
	if len(rep.Missed()) > 0 {
		fmt.Fprintln(stderr, "targets missed:", strings.Join(rep.Missed(), "; "))
	}
	return 0
}

// quoteArgs quotes the arguments that a shell would split.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Run runs the benchmark: a private PostgreSQL, the seed, `gatehouse
// serve`, every scenario at every concurrency with its ceiling; then it
// prints the report (and writes it to o.Out). Everything it started is
// stopped, and every file it made outside o.Out and o.ProfileDir removed,
// before it returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = scenarioNames()
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(scenarioNames(), s) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(scenarioNames(), ", "))
		}
	}
	if len(o.Concurrency) == 0 || o.Duration <= 0 || o.Users < 1 || o.UploadsPerUser < 1 {
		return nil, errors.New("need at least one concurrency, a positive duration, a user and an upload per user")
	}
	started := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	pgbenchBin, err := findPgbench()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "gatehouse-bench-work-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	rep := newReport(o)
	rep.Machine = describeMachine(pgbenchBin)

	bin := o.Gatehouse
	if bin == "" {
		o.Log.Info("building gatehouse")
		if bin, err = buildGatehouse(ctx, root, work, o.ProfileDir != ""); err != nil {
			return nil, err
		}
	}
	o.Log.Info("starting PostgreSQL")
	db, err := startDatabase(ctx, o.Log, o.Tune, o.SharedBuffers, o.DBMaxConns)
	if err != nil {
		return nil, err
	}
	defer db.close()
	rep.Machine.PostgreSQL = db.version
	rep.DBSettings = db.tuned
	o.Log.Info("seeding", "users", o.Users, "uploads", o.Users*o.UploadsPerUser)
	ds, err := seed(ctx, db, o.Log, o.Users, o.UploadsPerUser)
	if err != nil {
		return nil, err
	}
	rep.Seed = fmt.Sprintf("%d users (verified, one session each), %d accepted uploads (%d per user), seeded with COPY in %s",
		len(ds.Users), ds.Uploads, o.UploadsPerUser, ds.Took.Round(100*time.Millisecond))

	s3, err := startS3Stub()
	if err != nil {
		return nil, err
	}
	defer s3.close()
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	pg := newPgbenchRunner(pgbenchBin, work, db)
	r := &runner{o: o, db: db, ds: ds, s3: s3, pg: pg, rep: rep, bin: bin, home: work}

	var httpWanted []httpScenario
	for _, s := range httpScenarios {
		if slices.Contains(o.Scenarios, s.name) {
			httpWanted = append(httpWanted, s)
		}
	}
	if len(httpWanted) > 0 {
		if err := r.runServer(ctx, httpWanted); err != nil {
			return nil, err
		}
	}
	for _, s := range workerScenarios {
		if !slices.Contains(o.Scenarios, s.name) {
			continue
		}
		if err := r.runWorker(ctx, s.name, s.title, s.unit, s.ceiling); err != nil {
			return nil, err
		}
	}
	rep.Took = time.Since(started)
	rep.evaluate()
	text := rep.Markdown()
	fmt.Fprintln(o.Stdout, text)
	if o.Out != "" {
		if err := os.WriteFile(o.Out, []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

type runner struct {
	o    Options
	db   *database
	ds   *dataset
	s3   *s3Stub
	pg   *pgbenchRunner
	rep  *Report
	bin  string
	home string
}

// runServer starts `gatehouse serve`, measures its idle memory, and runs
// the HTTP scenarios against it.
func (r *runner) runServer(ctx context.Context, scenarios []httpScenario) error {
	srv, err := startServer(ctx, r.bin, r.db, r.s3, r.home, r.o.ProfileDir != "", r.o.ServerEnv)
	if err != nil {
		return err
	}
	defer srv.stop()
	time.Sleep(2 * time.Second)
	r.rep.IdleRSSKiB, _, _ = rssKiB(srv.pid())
	for _, sc := range scenarios {
		if err := r.httpScenario(ctx, srv, sc); err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
	}
	time.Sleep(2 * time.Second)
	r.rep.IdleAfterRSSKiB, r.rep.PeakRSSKiB, _ = rssKiB(srv.pid())
	r.rep.ServerLogLines = srv.stderr.lines()
	r.rep.ServerLogTail = tail(srv.stderr.String(), 2000)
	return nil
}

func (r *runner) httpScenario(ctx context.Context, srv *server, sc httpScenario) error {
	log := r.o.Log.With("scenario", sc.name)
	res := &scenarioResult{Name: sc.name, Title: sc.title, Unit: sc.unit}
	r.rep.Scenarios = append(r.rep.Scenarios, res)

	// The statements of one request, as the server ran them.
	req, id := sc.capture(r.ds)
	stmts, err := r.capture(ctx, func() error {
		c := &httpConn{addr: srv.addr}
		defer c.close()
		status, body, err := c.do(req, sc.want)
		if err == nil && status != sc.want {
			err = fmt.Errorf("status %d, want %d: %s", status, sc.want, body)
		}
		return err
	})
	if err != nil {
		return err
	}
	res.Statements = stmts
	var plan *ceilingPlan
	if sc.row != nil {
		plan = &ceilingPlan{name: sc.name, tmpl: templatize(stmts, id), row: sc.row(r.ds), rate: sc.rate}
		res.Template = &plan.tmpl
	}
	var floor *server
	if sc.floor && plan != nil {
		fp, ok := newFloorPlan(plan.tmpl)
		if !ok {
			return errors.New("its statements need values the request does not carry, so it has no stack floor")
		}
		if floor, err = startFloor(ctx, r.db, fp); err != nil {
			return fmt.Errorf("stack floor: %w", err)
		}
		defer floor.stop()
	}
	s3Before := r.s3.requests.Load()
	var totalRequests int64
	var served, replayed statAccumulator
	// Each load run is followed at once by its ceiling, so that both see
	// the machine in much the same state; pg_stat_statements is read after
	// each, so that the two are told apart.
	for _, conc := range r.o.Concurrency {
		log.Info("load", "clients", conc)
		build := func(rng *rand.Rand, buf []byte) ([]byte, int) { return sc.request(r.ds, rng, buf), sc.want }
		r.resetStatStatements(ctx)
		w := newWindow(r.o.Warmup, r.o.Duration)
		meter := cpuMeter{server: srv.pid(), db: r.db.cluster.PID()}
		samp := startSampler(meter, srv.pid(), w)
		var profErr error
		var profWG sync.WaitGroup
		if r.o.ProfileDir != "" && conc == r.o.Concurrency[len(r.o.Concurrency)/2] {
			profWG.Go(func() {
				time.Sleep(time.Until(w.from))
				secs := max(1, int((r.o.Duration-time.Second)/time.Second))
				profErr = srv.cpuProfile(filepath.Join(r.o.ProfileDir, fmt.Sprintf("%s-c%d.pprof", sc.name, conc)), secs)
			})
		}
		lr := runLoad(srv.addr, conc, w, build, uint64(conc))
		cpu, rssMax := samp.wait()
		profWG.Wait()
		if profErr != nil {
			log.Warn("profile failed", "error", profErr)
		}
		served.add(r.statStatements(ctx))
		totalRequests += lr.Total
		row := newRunResult(conc, lr, cpu, rssMax)
		res.Runs = append(res.Runs, row)
		log.Info("measured", "clients", conc, "rps", fmt.Sprintf("%.0f", row.Rate), "p50", row.P50, "p99", row.P99,
			"errors", lr.Errors, "cpu_server", fmt.Sprintf("%.0f%%", cpu.Server), "cpu_db", fmt.Sprintf("%.0f%%", cpu.DB),
			"cpu_machine", fmt.Sprintf("%.0f%%", cpu.Machine))
		if lr.Errors > 0 {
			log.Warn("errors", "first", lr.FirstErr)
		}
		switch {
		case plan != nil:
			log.Info("ceiling", "clients", conc)
			r.resetStatStatements(ctx)
			c, err := r.pg.ceiling(ctx, *plan, conc, r.o.Duration)
			if err != nil {
				return fmt.Errorf("ceiling: %w", err)
			}
			replayed.add(r.statStatements(ctx))
			row.setCeiling(c)
			if floor != nil {
				log.Info("floor", "clients", conc)
				w := newWindow(r.o.Warmup, r.o.Duration)
				samp := startSampler(cpuMeter{server: floor.pid(), db: r.db.cluster.PID()}, floor.pid(), w)
				lr := runLoad(floor.addr, conc, w, build, uint64(conc)+1)
				cpu, rssMax := samp.wait()
				f := newRunResult(conc, lr, cpu, rssMax)
				f.setCeiling(c)
				res.Floor = append(res.Floor, f)
				log.Info("floor measured", "clients", conc, "rps", fmt.Sprintf("%.0f", f.Rate), "errors", f.Errors,
					"cpu_floor", fmt.Sprintf("%.0f%%", cpu.Server), "cpu_db", fmt.Sprintf("%.0f%%", cpu.DB))
				if f.Errors > 0 {
					log.Warn("floor errors", "first", f.FirstErr)
				}
			}
		case sc.name == "login":
			// Measured after each run, on the same (noisy) machine.
			h := measureArgon2(min(max(r.o.Duration/3, 2*time.Second), 5*time.Second))
			r.rep.Argon2 = append(r.rep.Argon2, h)
			row.CeilingLabel = fmt.Sprintf("argon2id %.1f hashes/s", h)
			row.Ratio = row.Rate / h
		}
	}
	res.S3Requests = r.s3.requests.Load() - s3Before
	res.PerRequest = served.perRequest(totalRequests)
	mergeCeilingStats(res.PerRequest, replayed.stats())
	return nil
}

// newRunResult is a load run's result.
func newRunResult(conc int, lr loadResult, cpu cpuUsage, rssMax int64) *runResult {
	return &runResult{Conc: conc, Rate: lr.RPS(), P50: percentile(lr.Latencies, 50), P99: percentile(lr.Latencies, 99),
		CPU: cpu, Errors: lr.Errors, FirstErr: lr.FirstErr, RSSMaxKiB: rssMax, Count: lr.Requests, Window: lr.Window}
}

// setCeiling records the ceiling c of the run.
func (row *runResult) setCeiling(c ceilingResult) {
	row.Ceiling = &c
	row.CeilingLabel = fmt.Sprintf("pgbench %.0f tps", c.TPS)
	if c.TPS > 0 {
		row.Ratio = row.Rate / c.TPS
	}
}

// statAccumulator adds up pg_stat_statements readings taken after several
// resets.
type statAccumulator struct {
	order []string
	by    map[string]*stmtStat
}

func (a *statAccumulator) add(stats []stmtStat) {
	if a.by == nil {
		a.by = map[string]*stmtStat{}
	}
	for _, s := range stats {
		key := normalizeQuery(s.Query)
		t, ok := a.by[key]
		if !ok {
			c := s
			a.by[key] = &c
			a.order = append(a.order, key)
			continue
		}
		if n := t.Calls + s.Calls; n > 0 {
			t.MeanMs = (t.MeanMs*float64(t.Calls) + s.MeanMs*float64(s.Calls)) / float64(n)
		}
		t.Calls += s.Calls
	}
}

func (a *statAccumulator) stats() []stmtStat {
	out := make([]stmtStat, 0, len(a.order))
	for _, q := range a.order {
		out = append(out, *a.by[q])
	}
	slices.SortStableFunc(out, func(x, y stmtStat) int { return int(y.Calls - x.Calls) })
	return out
}

// perRequest returns the statements with their calls per request.
func (a *statAccumulator) perRequest(requests int64) []stmtStat {
	if requests == 0 {
		return nil
	}
	out := a.stats()
	for i := range out {
		out[i].PerRequest = float64(out[i].Calls) / float64(requests)
	}
	return out
}

// capture runs do with every statement logged and returns what the app
// role ran meanwhile. A capture that saw nothing (a backend that had not
// taken the new setting yet) is tried again.
func (r *runner) capture(ctx context.Context, do func() error) ([]capturedStatement, error) {
	for attempt := 1; ; attempt++ {
		offset := r.db.logSize()
		if err := r.db.setStatementLog(ctx, true); err != nil {
			return nil, err
		}
		doErr := do()
		time.Sleep(200 * time.Millisecond)
		if err := r.db.setStatementLog(ctx, false); err != nil {
			return nil, err
		}
		if doErr != nil {
			return nil, fmt.Errorf("the captured request failed: %w", doErr)
		}
		log, err := r.db.logSince(offset)
		if err != nil {
			return nil, err
		}
		stmts, err := parseStatementLog(log, appRole)
		if err != nil {
			return nil, err
		}
		if len(stmts) > 0 || attempt == 3 {
			if len(stmts) == 0 {
				return nil, errors.New("no statement of the app role was logged")
			}
			return stmts, nil
		}
	}
}

// runWorker runs an in-process scenario in the worker process.
func (r *runner) runWorker(ctx context.Context, name, title, unit string, withCeiling bool) error {
	log := r.o.Log.With("scenario", name)
	res := &scenarioResult{Name: name, Title: title, Unit: unit, InProcess: true}
	r.rep.Scenarios = append(r.rep.Scenarios, res)
	w, err := startWorker(name, r.db)
	if err != nil {
		return err
	}
	defer w.stop()
	perRun := r.o.VerdictsPerRun
	if name == "outbox" {
		perRun = r.o.OutboxPerRun
	}
	var plan *ceilingPlan
	if withCeiling {
		if _, err := w.call(workerCmd{Cmd: "prepare", N: 1}); err != nil {
			return err
		}
		var id identity
		stmts, err := r.capture(ctx, func() error {
			rep, err := w.call(workerCmd{Cmd: "capture"})
			id = rep.Identity
			return err
		})
		if err != nil {
			return err
		}
		res.Statements = stmts
		plan = &ceilingPlan{name: name, tmpl: templatize(stmts, id), rate: 40000 / float64(len(stmts))}
		res.Template = &plan.tmpl
	}
	var total int64
	var served, replayed statAccumulator
	for _, conc := range r.o.Concurrency {
		log.Info("preparing", "n", perRun)
		if _, err := w.call(workerCmd{Cmd: "prepare", N: perRun}); err != nil {
			return err
		}
		log.Info("load", "concurrency", conc)
		r.resetStatStatements(ctx)
		win := newWindow(r.o.Warmup, r.o.Duration)
		samp := startSampler(cpuMeter{server: w.pid(), db: r.db.cluster.PID()}, w.pid(), win)
		rep, err := w.call(workerCmd{Cmd: "run", Concurrency: conc, Warmup: r.o.Warmup, Duration: r.o.Duration})
		cpu, rssMax := samp.wait()
		if err != nil {
			return err
		}
		served.add(r.statStatements(ctx))
		wr := rep.Result
		total += wr.Total
		row := &runResult{Conc: conc, CPU: cpu, Errors: wr.Errors, FirstErr: wr.FirstErr, RSSMaxKiB: rssMax,
			P50: percentile(wr.Latencies, 50), P99: percentile(wr.Latencies, 99), Count: wr.Ops, Window: wr.Window,
			Exhausted: wr.Exhausted}
		if wr.Window > 0 {
			row.Rate = float64(wr.Ops) / wr.Window.Seconds()
		}
		if wr.Exhausted {
			log.Warn("the prepared work ran out before the end of the run; measured until then", "window", wr.Window)
		}
		res.Runs = append(res.Runs, row)
		log.Info("measured", "concurrency", conc, "rate", fmt.Sprintf("%.0f", row.Rate), "p50", row.P50, "p99", row.P99,
			"errors", wr.Errors, "cpu_worker", fmt.Sprintf("%.0f%%", cpu.Server), "cpu_db", fmt.Sprintf("%.0f%%", cpu.DB),
			"cpu_machine", fmt.Sprintf("%.0f%%", cpu.Machine))
		if wr.Errors > 0 {
			log.Warn("errors", "first", wr.FirstErr)
		}
		if plan != nil {
			// Every transaction settles another of the uploads the
			// scenario made (they are accepted by now; the statements do
			// not care), with an event id of its own.
			rows, err := r.verdictRows(ctx)
			if err != nil {
				return err
			}
			plan.row = func(n int, _ *rand.Rand) identity { return rows[(n-1)%len(rows)] }
			log.Info("ceiling", "clients", conc)
			r.resetStatStatements(ctx)
			c, err := r.pg.ceiling(ctx, *plan, conc, r.o.Duration)
			if err != nil {
				return fmt.Errorf("ceiling: %w", err)
			}
			replayed.add(r.statStatements(ctx))
			row.setCeiling(c)
		}
	}
	res.PerRequest = served.perRequest(total)
	mergeCeilingStats(res.PerRequest, replayed.stats())
	return nil
}

// verdictRows are the identities of the uploads the verdicts scenario made,
// for its ceiling: every transaction settles another one.
func (r *runner) verdictRows(ctx context.Context) ([]identity, error) {
	rows, err := r.db.admin.Query(ctx, `SELECT id::text, owner_id::text, version_id, etag FROM uploads
WHERE starts_with(filename, $1) AND version_id IS NOT NULL ORDER BY id`, verdictFilenamePrefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []identity
	for rows.Next() {
		var id, owner, ver, etag string
		if err := rows.Scan(&id, &owner, &ver, &etag); err != nil {
			return nil, err
		}
		out = append(out, identity{"upload_id": id, "user_id": owner, "version_id": ver, "etag": etag})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no uploads of the verdicts scenario")
	}
	return out, nil
}

func (r *runner) resetStatStatements(ctx context.Context) {
	if r.db.statStatements {
		_ = r.db.exec(ctx, "SELECT public.pg_stat_statements_reset()")
	}
}

// statStatements returns the app role's statements since the last reset.
func (r *runner) statStatements(ctx context.Context) []stmtStat {
	if !r.db.statStatements {
		return nil
	}
	rows, err := r.db.admin.Query(ctx, `SELECT query, calls, mean_exec_time FROM public.pg_stat_statements s
JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1 ORDER BY calls DESC, query`, appRole)
	if err != nil {
		r.o.Log.Warn("pg_stat_statements", "error", err)
		return nil
	}
	defer rows.Close()
	var out []stmtStat
	for rows.Next() {
		var s stmtStat
		if err := rows.Scan(&s.Query, &s.Calls, &s.MeanMs); err != nil {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// mergeCeilingStats notes in the server's statements their mean execution
// time when pgbench ran them, matching the texts with the placeholders
// blanked out (pgbench numbers them in order of appearance, and
// pg_stat_statements turns the literals written in for NULL into
// placeholders too).
func mergeCeilingStats(server, bench []stmtStat) {
	byText := map[string]float64{}
	for _, b := range bench {
		byText[normalizeQuery(b.Query)] = b.MeanMs
	}
	for i := range server {
		if m, ok := byText[normalizeQuery(server[i].Query)]; ok {
			server[i].BenchMeanMs = m
		}
	}
}

var literalRE = regexp.MustCompile(`'(?:[^']|'')*'|\$\d+|\b\d+\b`)

// normalizeQuery makes the texts pg_stat_statements keeps for one statement
// comparable: it shows constants as placeholders or as they were written,
// depending on how its entry was made.
func normalizeQuery(q string) string {
	return strings.Join(strings.Fields(literalRE.ReplaceAllString(q, "$")), " ")
}

// sampler reads CPU at the start and end of a window and RSS throughout.
type sampler struct {
	done   chan struct{}
	cpu    cpuUsage
	rssMax int64
}

func startSampler(m cpuMeter, rssPID int, w window) *sampler {
	s := &sampler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		time.Sleep(time.Until(w.from))
		a := m.read()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for now := time.Now(); now.Before(w.until); now = <-t.C {
			if rss, _, err := rssKiB(rssPID); err == nil {
				s.rssMax = max(s.rssMax, rss)
			}
			if time.Until(w.until) < 200*time.Millisecond {
				time.Sleep(time.Until(w.until))
				break
			}
		}
		s.cpu = usageBetween(a, m.read())
	}()
	return s
}

func (s *sampler) wait() (cpuUsage, int64) {
	<-s.done
	return s.cpu, s.rssMax
}

// measureArgon2 is the raw argon2id throughput of this machine with the
// production parameters and the server's own argon2id code: GOMAXPROCS
// goroutines (the hasher runs that many hashes at once) each running one
// hash after another for d through a Hasher, as a login's verification
// does, without HTTP or the database.
func measureArgon2(d time.Duration) float64 {
	procs := runtime.GOMAXPROCS(0)
	h, err := argon2id.NewWithOptions(argon2id.Options{MaxConcurrent: procs, MaxWait: time.Minute})
	if err != nil {
		panic(err) // the defaults are valid
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	// One hash in each slot first, so the measured ones find their memory
	// ready, as a warmed-up server's do.
	for range procs {
		wg.Go(func() { h.DummyVerify(benchPassword) })
	}
	wg.Wait()
	start := time.Now()
	until := start.Add(max(d, time.Second))
	for range procs {
		wg.Go(func() {
			n := 0
			for time.Now().Before(until) {
				h.DummyVerify(benchPassword)
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}
