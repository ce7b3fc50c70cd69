package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is everything a run measured.
type Report struct {
	Options    Options
	Date       time.Time
	Took       time.Duration
	Machine    Machine
	DBSettings []string
	Seed       string
	Scenarios  []*scenarioResult
	// Argon2 is the raw argon2id throughput (hashes/s) at the production
	// parameters, on GOMAXPROCS goroutines, measured after each login run.
	Argon2          []float64
	IdleRSSKiB      int64 // the server's, 2s after it became ready
	IdleAfterRSSKiB int64 // 2s after the last HTTP run
	PeakRSSKiB      int64 // VmHWM at the end
	ServerLogLines  int
	ServerLogTail   string
	Targets         []targetCheck
	// FloorNotes put each ratio target that has a stack floor beside what
	// the floor reached.
	FloorNotes []string
}

// Machine describes where the run ran.
type Machine struct {
	CPUs       int
	Model      string
	Memory     string
	Kernel     string
	OS         string
	Go         string
	PostgreSQL string
	Pgbench    string
	LoadAvg    string
}

type scenarioResult struct {
	Name, Title, Unit string
	InProcess         bool
	Runs              []*runResult
	// Floor are the stack floor's runs (see floor.go), one per
	// concurrency, each with the same ceiling as the run of gatehouse.
	Floor      []*runResult
	Statements []capturedStatement
	Template   *requestTemplate
	PerRequest []stmtStat
	S3Requests int64
}

type runResult struct {
	Conc         int
	Rate         float64
	Count        int64
	Window       time.Duration
	P50, P99     time.Duration
	CPU          cpuUsage
	Errors       int64
	FirstErr     string
	RSSMaxKiB    int64
	Exhausted    bool
	Ceiling      *ceilingResult
	CeilingLabel string
	Ratio        float64
}

type stmtStat struct {
	Query      string
	Calls      int64
	MeanMs     float64
	PerRequest float64
	// BenchMeanMs is the mean execution time of the same statement when
	// pgbench ran it for the ceiling (0: not replayed).
	BenchMeanMs float64
}

type targetCheck struct {
	Target, Measured string
	Met              bool
}

func newReport(o Options) *Report {
	return &Report{Options: o, Date: time.Now().UTC()}
}

func describeMachine(pgbench string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.Command(pgbench, "--version").Output(); err == nil {
		m.Pgbench = strings.TrimSpace(string(out))
	}
	return m
}

// run returns the run at conc clients, or the middle one when there is
// none.
func (s *scenarioResult) run(conc int) *runResult {
	for _, r := range s.Runs {
		if r.Conc == conc {
			return r
		}
	}
	if len(s.Runs) == 0 {
		return nil
	}
	return s.Runs[len(s.Runs)/2]
}

// floor returns the stack floor's run at conc clients, or nil.
func (s *scenarioResult) floor(conc int) *runResult {
	for _, r := range s.Floor {
		if r.Conc == conc {
			return r
		}
	}
	return nil
}

func (rep *Report) scenario(name string) *scenarioResult {
	for _, s := range rep.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// evaluate checks the targets of the issue that asked for this benchmark.
func (rep *Report) evaluate() {
	add := func(target, measured string, met bool) {
		rep.Targets = append(rep.Targets, targetCheck{target, measured, met})
	}
	ratio := func(name, label string, min float64, p99 time.Duration) {
		s := rep.scenario(name)
		if s == nil {
			return
		}
		r := s.run(32)
		if r == nil || r.Ratio == 0 {
			return
		}
		target := fmt.Sprintf("%s ≥ %.1f × %s at %d clients", s.Title, min, ceilingName(name), r.Conc)
		add(target, fmt.Sprintf("%s / %s = %s", fmtRate(r.Rate), strings.TrimPrefix(strings.TrimPrefix(r.CeilingLabel, "pgbench "), "argon2id "), fmtRatio(r.Ratio, min)),
			r.Ratio >= min && r.Errors == 0)
		if f := s.floor(r.Conc); f != nil && f.Ratio > 0 && f.Rate > 0 {
			verb := "below"
			if f.Ratio >= min {
				verb = "at or above"
			}
			rep.FloorNotes = append(rep.FloorNotes, fmt.Sprintf("%s at %d clients: the stack floor (a bare net/http + pgx server running the same statements) "+
				"served %s req/s, %.2f of the same ceiling, %s the target's %.1f; gatehouse served %.2f of the floor.",
				s.Title, r.Conc, fmtRate(f.Rate), f.Ratio, verb, min, r.Rate/f.Rate))
		}
		if p99 > 0 {
			add(fmt.Sprintf("%s p99 ≤ %s at %d clients", s.Title, fmtDur(p99), r.Conc), fmtDur(r.P99), r.P99 <= p99)
		}
	}
	ratio("hot-read", "", 0.6, 15*time.Millisecond)
	ratio("create-upload", "", 0.5, 0)
	ratio("verdicts", "", 0.5, 0)
	ratio("login", "", 0.9, 0)
	if s := rep.scenario("outbox"); s != nil {
		for _, r := range s.Runs {
			add(fmt.Sprintf("outbox ≥ 1,000 messages/s (OUTBOX_CONCURRENCY=%d)", r.Conc), fmtRate(r.Rate)+" msgs/s", r.Rate >= 1000 && r.Errors == 0)
		}
	}
	if rep.IdleRSSKiB > 0 {
		add("server idle RSS ≤ 40 MB", fmtMB(rep.IdleRSSKiB), withinMB(rep.IdleRSSKiB, 40))
		var peak int64
		var where string
		maxConc := 0
		for _, c := range rep.Options.Concurrency {
			maxConc = max(maxConc, c)
		}
		for _, s := range rep.Scenarios {
			if s.InProcess {
				continue
			}
			for _, r := range s.Runs {
				if r.Conc == maxConc && r.RSSMaxKiB > peak {
					peak, where = r.RSSMaxKiB, s.Title
				}
			}
		}
		if peak > 0 {
			add(fmt.Sprintf("server RSS ≤ 120 MB under %d clients", maxConc), fmtMB(peak)+" (peak, "+where+")", withinMB(peak, 120))
		}
	}
}

func ceilingName(scenario string) string {
	if scenario == "login" {
		return "raw argon2id hashes/s"
	}
	return "the pgbench ceiling of its SQL"
}

// Missed lists the targets that were not met.
func (rep *Report) Missed() []string {
	var out []string
	for _, t := range rep.Targets {
		if !t.Met {
			out = append(out, t.Target+": "+t.Measured)
		}
	}
	return out
}

func fmtRate(f float64) string {
	switch {
	case f >= 100:
		return thousands(int64(f + 0.5))
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

func fmtMB(kib int64) string { return fmt.Sprintf("%.1f MB", float64(kib)*1024/1e6) }

// withinMB reports whether kib KiB is at most mb MB, in the MB (10⁶ bytes)
// that fmtMB shows, so that a reading and its verdict agree.
func withinMB(kib int64, mb float64) bool { return float64(kib)*1024 <= mb*1e6 }

// fmtRatio shows a ratio with two decimals, or three when two would round
// it onto the other side of min (0.8994 against 0.9 is 0.899, not 0.90).
func fmtRatio(r, min float64) string {
	s := fmt.Sprintf("%.2f", r)
	if two, _ := strconv.ParseFloat(s, 64); (two >= min) != (r >= min) {
		s = fmt.Sprintf("%.3f", r)
	}
	return s
}

func fmtPct(f float64) string { return fmt.Sprintf("%.0f%%", f) }

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var b strings.Builder
	o := rep.Options
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Measured %s, in %s, with:\n\n```\n%s\n```\n\n", rep.Date.Format("2006-01-02 15:04 UTC"), rep.Took.Round(time.Second), o.Command)
	w("The load generator, `gatehouse serve` (or the worker process) and PostgreSQL share the same %d CPUs, and the machine is shared with other work: "+
		"expect ±10–20%% between runs, and read the ratios to the ceilings (measured minutes apart on the same box) rather than the absolute numbers.\n\n", rep.Machine.CPUs)

	w("## Machine\n\n| | |\n|---|---|\n")
	m := rep.Machine
	w("| CPU | %d × %s |\n| Memory | %s |\n| OS | %s, kernel %s |\n| Go | %s |\n| PostgreSQL | %s |\n| pgbench | %s |\n| Load average at start | %s |\n\n",
		m.CPUs, m.Model, m.Memory, m.OS, m.Kernel, m.Go, m.PostgreSQL, m.Pgbench, m.LoadAvg)

	w("## Results\n\n")
	w("Each run: %s of warm-up, then %s measured, closed loop (each client sends its next request when the last one is answered). "+
		"CPU is in percent of one core (the machine has %d00%%): server is `gatehouse serve`, or the worker process for the in-process scenarios "+
		"(which includes their load generation); db is every PostgreSQL process; load gen is the harness; others is what the rest of the machine's "+
		"processes used meanwhile (the machine's busy time from /proc/stat minus the three): other people's work on this shared machine, which the "+
		"numbers of that row lose.\n\n", o.Warmup, o.Duration, m.CPUs)
	w("| scenario | clients | throughput | p50 | p99 | CPU server | CPU db | CPU load gen | CPU others | ceiling | ratio | errors |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range rep.Scenarios {
		for _, r := range s.Runs {
			loader := fmtPct(r.CPU.Loader)
			if s.InProcess {
				loader = "(in server)"
			}
			ceiling, ratio := "–", "–"
			if r.CeilingLabel != "" {
				ceiling, ratio = r.CeilingLabel, fmt.Sprintf("%.2f", r.Ratio)
			}
			rate := fmtRate(r.Rate) + " " + s.Unit
			if r.Exhausted {
				rate += " (ran out after " + r.Window.Round(100*time.Millisecond).String() + ")"
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", s.Title, r.Conc, rate, fmtDur(r.P50), fmtDur(r.P99),
				fmtPct(r.CPU.Server), fmtPct(r.CPU.DB), loader, fmtPct(max(0, r.CPU.Machine-r.CPU.Server-r.CPU.DB-r.CPU.Loader)), ceiling, ratio, r.Errors)
		}
	}
	w("\n")
	for _, s := range rep.Scenarios {
		for _, r := range s.Runs {
			if r.Errors > 0 {
				w("- %s at %d clients: %d errors; the first: `%s`\n", s.Title, r.Conc, r.Errors, oneLine(r.FirstErr))
			}
		}
	}

	if len(rep.Targets) > 0 {
		w("\n## Targets\n\n| target | measured | met |\n|---|---|---|\n")
		for _, t := range rep.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			w("| %s | %s | %s |\n", t.Target, t.Measured, met)
		}
		w("\n")
		for _, n := range rep.FloorNotes {
			w("- %s\n", n)
		}
		if len(rep.FloorNotes) > 0 {
			w("\n")
		}
	}

	if rep.IdleRSSKiB > 0 {
		w("## Memory of `gatehouse serve`\n\n")
		w("RSS 2 s after it became ready: %s. After all the HTTP runs, idle again: %s (peak %s). ", fmtMB(rep.IdleRSSKiB), fmtMB(rep.IdleAfterRSSKiB), fmtMB(rep.PeakRSSKiB))
		w("Highest RSS sampled (every 200 ms) during each run:\n\n| scenario |")
		for _, c := range o.Concurrency {
			w(" %d clients |", c)
		}
		w("\n|---|")
		for range o.Concurrency {
			w("--:|")
		}
		w("\n")
		for _, s := range rep.Scenarios {
			if s.InProcess {
				continue
			}
			w("| %s |", s.Title)
			for _, r := range s.Runs {
				w(" %s |", fmtMB(r.RSSMaxKiB))
			}
			w("\n")
		}
		w("\nAt LOG_LEVEL=warn the server wrote %d log lines during the whole run (at info it writes one access-log line per request).\n\n", rep.ServerLogLines)
	}

	w("## Ceilings\n\n")
	w("pgbench %s, `-M prepared -j 2 -T %d`, as the app role, replaying the statements each scenario's request ran (captured from PostgreSQL's log, below) "+
		"with the values of other seeded rows: each transaction first reads its values from a parameter table (a random row, or one of its own when the request "+
		"makes rows and needs fresh ids). That lookup alone is measured too, and its cost per transaction taken off: ceiling = 1 / (1/tps − 1/lookup tps). "+
		"The lookup alone runs for half the time. p50/p99 are of the transactions with the lookup (a 20%% sample of pgbench's log). "+
		"\"mean exec in pgbench\" below compares, statement by statement, the time PostgreSQL spent executing each when the server sent it and when pgbench did.\n\n", strings.TrimPrefix(m.Pgbench, "pgbench (PostgreSQL) "), int(o.Duration.Seconds()))
	w("| scenario | clients | rows | tps with lookup | lookup alone | ceiling | p50 | p99 | CPU db | CPU pgbench | CPU others |\n|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range rep.Scenarios {
		for _, r := range s.Runs {
			c := r.Ceiling
			if c == nil {
				continue
			}
			rows := "random"
			if c.Fresh {
				rows = "own"
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Title, r.Conc, rows, fmtRate(c.RawTPS), fmtRate(c.LookupTPS), fmtRate(c.TPS),
				fmtDur(c.P50), fmtDur(c.P99), fmtPct(c.DBCPU), fmtPct(c.BenchCPU), fmtPct(max(0, c.Machine-c.DBCPU-c.BenchCPU)))
		}
	}
	if len(rep.Argon2) > 0 {
		var hs []string
		for _, h := range rep.Argon2 {
			hs = append(hs, fmt.Sprintf("%.1f", h))
		}
		w("\nLogin's ceiling is argon2id itself: %s hashes/s, measured in-process right after each login run with the production parameters "+
			"(m=19456 KiB, t=2, p=1) and the server's own hasher (adapters/argon2id), on GOMAXPROCS=%d goroutines, as many as it runs at once.\n", strings.Join(hs, ", "), runtime.GOMAXPROCS(0))
	}

	rep.writeFloor(w)

	w("\n## What each request runs\n\n")
	for _, s := range rep.Scenarios {
		if len(s.Statements) == 0 && len(s.PerRequest) == 0 {
			continue
		}
		w("### %s\n\n", s.Title)
		if len(s.Statements) > 0 {
			w("Captured (%d statements):\n\n```sql\n", len(s.Statements))
			for _, st := range s.Statements {
				w("%s;\n", strings.TrimSpace(st.SQL))
			}
			w("```\n\n")
		}
		if s.Name == "create-upload" {
			w("S3 requests during its runs: %d (creating an upload only presigns).\n\n", s.S3Requests)
		}
		if len(s.PerRequest) > 0 {
			w("pg_stat_statements over all its runs (warm-ups included), per %s, with the mean execution time of the same statement in the ceiling's pgbench runs:\n\n"+
				"| calls per %s | mean exec | mean exec in pgbench | statement |\n|--:|--:|--:|---|\n", perName(s.Unit), perName(s.Unit))
			for _, st := range s.PerRequest {
				if st.PerRequest < 0.0005 {
					continue
				}
				bench := "–"
				if st.BenchMeanMs > 0 {
					bench = fmt.Sprintf("%.3f ms", st.BenchMeanMs)
				}
				w("| %.3f | %.3f ms | %s | `%s` |\n", st.PerRequest, st.MeanMs, bench, oneLine(st.Query))
			}
			w("\n")
		}
	}

	w("## Setup\n\n")
	w("- Data: %s. Every user has the same argon2id hash, computed once with the production parameters (hashing 10,000 passwords would take minutes); each login still verifies a full-cost hash.\n", rep.Seed)
	w("- PostgreSQL: a private cluster started by `adapters/postgres/pgcluster` (TLS, scram), roles and database bootstrapped with schema/roles.sql, schema applied by the migrator. ")
	if len(rep.DBSettings) > 0 {
		w("Restarted with `%s` (ALTER SYSTEM); pgcluster's own settings stay (synchronous_commit=off). Tables VACUUM (FREEZE, ANALYZE)d and prewarmed into shared buffers after the seed.\n", strings.Join(rep.DBSettings, "`, `"))
	} else {
		w("Default settings.\n")
	}
	w("- `gatehouse serve` built from this tree, GOMAXPROCS default, GOGC unset (so the binary's own 400), DB_MAX_CONNS=%d, LOG_LEVEL=warn, the outbox dispatcher off (OUTBOX_DISPATCHER_ENABLED=false), "+
		"S3 (and every other AWS service and the mail API) pointed at a local S3 server on loopback that counts requests, TRUSTED_PROXIES=127.0.0.1/32.\n", o.DBMaxConns)
	if len(o.ServerEnv) > 0 {
		w("- Extra settings of the server for this run: `%s`.\n", strings.Join(o.ServerEnv, "`, `"))
	}
	if o.Gatehouse != "" {
		w("- The server binary was given (`-gatehouse`), not built from this tree.\n")
	}
	w("- Load generator: Go, in the harness, one OS thread driving every keep-alive connection with epoll and non-blocking sockets, as wrk does (a minimal HTTP/1.1 client); each request picks a random seeded user's bearer token (and, for the hot read, a random upload of that user).\n")
	w("- Login: each request signs in another user (round robin) with its own X-Forwarded-For address, so neither rate limit refuses it; the limiter's statements still run.\n")
	w("- Verdicts: run in a worker process (this program's binary), C goroutines each applying a GuardDuty \"NO_THREATS_FOUND\" event through the Lambda function's path "+
		"(envelope, guardduty.Decode, app.Uploads.HandleVerdict: promotion, copy, event) over the PostgreSQL store and the in-memory object store. "+
		"The Runtime Interface Emulator runs one invocation at a time, so it cannot be loaded with C clients; S3 is remote in production. %d uploads prepared per run.\n", o.VerdictsPerRun)
	w("- Outbox: the dispatcher (app.Dispatcher over postgres.OutboxQueue) in the worker process with an instant mail provider (it validates the message and returns); "+
		"clients = OUTBOX_CONCURRENCY (mail sends in flight), batch %d; %d verification mails prepared per run; p50/p99 are of whole passes (claim, send, record a batch).\n",
		100, o.OutboxPerRun)
	return b.String()
}

// perName is what one unit of a throughput is called: "request" for req/s.
func perName(unit string) string {
	switch unit {
	case "req/s":
		return "request"
	case "verdicts/s":
		return "verdict"
	case "msgs/s":
		return "message"
	}
	return strings.TrimSuffix(unit, "/s")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// writeFloor writes the stack floor's section, if any scenario has one.
func (rep *Report) writeFloor(w func(string, ...any)) {
	has := false
	for _, s := range rep.Scenarios {
		has = has || len(s.Floor) > 0
	}
	if !has {
		return
	}
	w("\n## Stack floor\n\n")
	w("How close to pgbench can any server written like gatehouse, in Go with net/http and pgx, get on this machine? " +
		"The stack floor (bench/floor.go) does the least such a server can do for the request: it reads the bearer token, hashes it, " +
		"runs the captured statements with the same pool size over the same TLS, and writes the rows back as JSON, with no router, " +
		"middleware, session rules, logging, metrics or typed scanning. It runs in a process of its own and gets the same requests " +
		"from the same load generator right after each ceiling, so its ratio uses the same ceiling as gatehouse's. " +
		"A ratio target the floor does not reach is out of this stack's reach on this machine; what gatehouse loses to the floor is " +
		"the price of everything a real backend does per request.\n\n")
	w("| scenario | clients | floor | p50 | p99 | CPU floor | CPU db | CPU load gen | ceiling | floor / ceiling | gatehouse / floor | errors |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range rep.Scenarios {
		for _, f := range s.Floor {
			vs := "–"
			if g := s.run(f.Conc); g != nil && g.Conc == f.Conc && f.Rate > 0 {
				vs = fmt.Sprintf("%.2f", g.Rate/f.Rate)
			}
			w("| %s | %d | %s %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %d |\n", s.Title, f.Conc, fmtRate(f.Rate), s.Unit,
				fmtDur(f.P50), fmtDur(f.P99), fmtPct(f.CPU.Server), fmtPct(f.CPU.DB), fmtPct(f.CPU.Loader), f.CeilingLabel, f.Ratio, vs, f.Errors)
		}
	}
	for _, s := range rep.Scenarios {
		for _, f := range s.Floor {
			if f.Errors > 0 {
				w("- the floor of %s at %d clients: %d errors; the first: `%s`\n", s.Title, f.Conc, f.Errors, oneLine(f.FirstErr))
			}
		}
	}
}
