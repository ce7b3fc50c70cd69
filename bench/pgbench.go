package bench

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
)

// The ceiling of a scenario is pgbench running, with the prepared protocol
// (what pgx does with its statement cache), exactly the statements one
// request made, with the values of other real rows bound to them.
//
// pgbench variables are numbers, or strings fixed for the whole run, so the
// values come from a parameter table in schema bench: one row per set of
// values, holding each bound value that changes from one transaction to the
// next (a session's token hash, a user's id, an upload's id; a new upload's
// fresh id). Each transaction first reads its row (SELECT ... \gset): a
// random one among many for requests that only read, its own for requests
// that make rows, whose fresh ids can be used once. That lookup is a round
// trip the server does not make, so it is run alone as well, at the same
// concurrency, and its cost per transaction is taken off:
//
//	ceiling = 1 / (1/tps(lookup and statements) − 1/tps(lookup alone))
//
// (CPU time per transaction adds up; at saturation throughput is its
// inverse.) The alternative, one script per set of values, makes every
// pgbench connection prepare and plan each statement once per script, which
// at 128 scripts costs a good part of the ceiling.
//
// Values the same in every transaction are -D variables. A NULL value, and
// the empty string, are written into the statement: pgbench variables can
// be neither.

// readRows is how many random rows the parameter table of a read-only
// request holds.
const readRows = 50000

// findPgbench finds pgbench beside the server binaries or on PATH.
func findPgbench() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(a))), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(b))), 64)
		return int(vb - va)
	})
	if len(dirs) > 0 {
		return dirs[0], nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	return "", errors.New("pgbench not found in /usr/lib/postgresql/*/bin nor on PATH: it comes with PostgreSQL's server packages (on Debian: apt-get install -y postgresql)")
}

// ceilingPlan is how to replay one scenario's statements.
type ceilingPlan struct {
	name string
	tmpl requestTemplate
	// row returns the identities of the values the n-th transaction binds
	// (n counts from 1); rng is there for random picks.
	row func(n int, rng *rand.Rand) identity
	// rate is a generous guess of the ceiling's transactions per second,
	// to size the parameter table.
	rate float64
}

// ceilingResult is one ceiling measurement.
type ceilingResult struct {
	TPS       float64 // the ceiling (the lookup's cost taken off in table mode)
	RawTPS    float64 // what pgbench reported
	LookupTPS float64 // the lookup alone (table mode)
	Fresh     bool    // every transaction used a row of its own (the request makes rows)
	P50, P99  time.Duration
	DBCPU     float64 // percent of one core
	BenchCPU  float64
	Machine   float64 // the whole machine
	Txns      int64
	Failed    int64
	Retried   bool
}

// pgbenchRunner runs pgbench against the benchmark database as the app
// role.
type pgbenchRunner struct {
	bin   string
	dir   string
	db    *database
	env   []string
	dbPID int
}

func newPgbenchRunner(bin, dir string, db *database) *pgbenchRunner {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"PGHOST=" + db.cfg.Host,
		"PGPORT=" + strconv.Itoa(db.cfg.Port),
		"PGDATABASE=" + db.cfg.Name,
		"PGUSER=" + db.cfg.AppUser,
		"PGPASSWORD=" + db.cfg.AppPassword.Reveal(),
		"PGSSLMODE=require",
		"PGOPTIONS=-c search_path=" + config.SchemaName,
		"PGAPPNAME=pgbench",
	}
	return &pgbenchRunner{bin: bin, dir: dir, db: db, env: env, dbPID: db.cluster.PID()}
}

// pgbenchVar names the variable of parameter k of statement s.
func pgbenchVar(prefix string, s, k int) string { return fmt.Sprintf("%s%d_%d", prefix, s, k) }

// ceiling measures plan at conc clients for dur.
func (p *pgbenchRunner) ceiling(ctx context.Context, plan ceilingPlan, conc int, dur time.Duration) (ceilingResult, error) {
	if len(plan.tmpl.Statements) == 0 {
		return ceilingResult{}, errors.New("no statements were captured")
	}
	if len(plan.tmpl.Fresh) == 0 {
		return p.tableRun(ctx, plan, conc, dur, readRows)
	}
	rows := int(plan.rate*(dur.Seconds()+2)*1.3) + 1000
	res, err := p.tableRun(ctx, plan, conc, dur, rows)
	if errors.Is(err, errRowsExhausted) {
		res, err = p.tableRun(ctx, plan, conc, dur, rows*4)
		res.Retried = true
	}
	return res, err
}

// constants returns the -D definitions of the parameters that are the same
// in every transaction.
func constants(t requestTemplate) []string {
	var defs []string
	for s, st := range t.Statements {
		for k, pt := range st.Params {
			if !pt.inline() && pt.constant() {
				defs = append(defs, pgbenchVar("c", s, k+1)+"="+pt.render(nil, nil))
			}
		}
	}
	return defs
}

var errRowsExhausted = errors.New("pgbench ran out of parameter rows")

func (p *pgbenchRunner) tableRun(ctx context.Context, plan ceilingPlan, conc int, dur time.Duration, rows int) (ceilingResult, error) {
	fresh := len(plan.tmpl.Fresh) > 0
	table := "bench.ceiling_" + strings.ReplaceAll(plan.name, "-", "_")
	var cols []string
	var varying []paramRef
	for s, st := range plan.tmpl.Statements {
		for k, pt := range st.Params {
			if !pt.inline() && !pt.constant() {
				cols = append(cols, pgbenchVar("v", s, k+1))
				varying = append(varying, paramRef{s, k})
			}
		}
	}
	if err := p.fillTable(ctx, table, plan, cols, varying, rows); err != nil {
		return ceilingResult{}, err
	}
	// A random row, or (fresh values) a row of its own: client c's t-th
	// transaction takes row 1 + t*C + c.
	pick := "\\set n random(1, :rows)\n"
	if fresh {
		pick = "\\set n 1 + :txn * :nclients + :client_id\n\\set txn :txn + 1\n"
	}
	lookup := "SELECT " + strings.Join(cols, ", ") + " FROM " + table + " WHERE n = :n \\gset\n"
	var b strings.Builder
	b.WriteString(pick)
	b.WriteString(lookup)
	for s, st := range plan.tmpl.Statements {
		sql, err := pgbenchSQL(st, func(k int) string {
			if st.Params[k-1].constant() {
				return pgbenchVar("c", s, k)
			}
			return pgbenchVar("v", s, k)
		})
		if err != nil {
			return ceilingResult{}, err
		}
		b.WriteString(sql)
		b.WriteString("\n")
	}
	script := filepath.Join(p.dir, plan.name+".sql")
	if err := os.WriteFile(script, []byte(b.String()), 0o600); err != nil {
		return ceilingResult{}, err
	}
	alone := filepath.Join(p.dir, plan.name+"-lookup.sql")
	if fresh {
		// Alone, the lookup runs faster than the rows last: wrap around.
		pick = "\\set n 1 + (:txn * :nclients + :client_id) % :rows\n\\set txn :txn + 1\n"
	}
	if err := os.WriteFile(alone, []byte(pick+lookup), 0o600); err != nil {
		return ceilingResult{}, err
	}
	defs := append(constants(plan.tmpl), "txn=0", "nclients="+strconv.Itoa(conc), "rows="+strconv.Itoa(rows))
	out, err := p.run(ctx, []string{script}, defs, conc, dur)
	if err != nil {
		return ceilingResult{}, err
	}
	// The lookup alone is cheap and steady: half the time is enough.
	only, err := p.run(ctx, []string{alone}, defs, conc, max(dur/2, time.Second))
	if err != nil {
		return ceilingResult{}, err
	}
	res := ceilingResult{RawTPS: out.tps, LookupTPS: only.tps, Fresh: fresh, P50: out.p50, P99: out.p99,
		DBCPU: out.dbCPU, BenchCPU: out.benchCPU, Machine: out.machine, Txns: out.txns, Failed: out.failed}
	if only.tps > out.tps && out.tps > 0 {
		res.TPS = 1 / (1/out.tps - 1/only.tps)
	}
	return res, nil
}

type paramRef struct{ s, k int }

// fillTable (re)creates the parameter table with rows rows of fresh values.
func (p *pgbenchRunner) fillTable(ctx context.Context, table string, plan ceilingPlan, cols []string, varying []paramRef, rows int) error {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = c + " text NOT NULL"
	}
	if err := p.db.exec(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return err
	}
	if err := p.db.exec(ctx, "CREATE TABLE "+table+" (n integer PRIMARY KEY, "+strings.Join(defs, ", ")+")"); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(rows), 11))
	cha := rand.NewChaCha8([32]byte{'f', 'r', 'e', 's', 'h', byte(rows)})
	now := time.Now()
	n := 0
	fresh := make([]string, len(plan.tmpl.Fresh))
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if n >= rows {
			return nil, nil
		}
		n++
		id := plan.row(n, rng)
		for i, kind := range plan.tmpl.Fresh {
			switch kind {
			case "uuid":
				v, err := domain.NewID(now, cha)
				if err != nil {
					return nil, err
				}
				fresh[i] = v
			default:
				var h [32]byte
				_, _ = cha.Read(h[:])
				fresh[i] = `\x` + hex.EncodeToString(h[:])
			}
		}
		vals := make([]any, 0, len(varying)+1)
		vals = append(vals, int32(n))
		for _, r := range varying {
			vals = append(vals, plan.tmpl.Statements[r.s].Params[r.k].render(id, fresh))
		}
		return vals, nil
	})
	name := strings.SplitN(table, ".", 2)
	if _, err := p.db.admin.CopyFrom(ctx, pgx.Identifier{name[0], name[1]}, append([]string{"n"}, cols...), src); err != nil {
		return fmt.Errorf("filling %s: %w", table, err)
	}
	if err := p.db.exec(ctx, "ANALYZE "+table); err != nil {
		return err
	}
	return p.db.exec(ctx, "SELECT public.pg_prewarm('"+table+"')")
}

// pgbenchOut is what one pgbench run reported.
type pgbenchOut struct {
	tps             float64
	txns, failed    int64
	p50, p99        time.Duration
	dbCPU, benchCPU float64
	machine         float64
}

var (
	tpsRE       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	processedRE = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	failedRE    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
)

// run runs pgbench with the prepared protocol and returns its throughput,
// its latency percentiles (from a per-transaction log sampled at 20%) and
// the CPU it and the database used.
func (p *pgbenchRunner) run(ctx context.Context, scripts, defs []string, conc int, dur time.Duration) (pgbenchOut, error) {
	logDir, err := os.MkdirTemp(p.dir, "log-")
	if err != nil {
		return pgbenchOut{}, err
	}
	defer os.RemoveAll(logDir)
	secs := max(1, int(dur.Round(time.Second)/time.Second))
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(conc), "-j", strconv.Itoa(min(2, conc)),
		"-T", strconv.Itoa(secs), "-l", "--sampling-rate=0.2", "--log-prefix=" + filepath.Join(logDir, "txn")}
	for _, s := range scripts {
		args = append(args, "-f", s)
	}
	for _, d := range defs {
		args = append(args, "-D", d)
	}
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = p.env
	cmd.Dir = logDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	db0, _ := treeTicks(p.dbPID)
	busy0, all0 := machineTicks()
	t0 := time.Now()
	runErr := cmd.Run()
	wall := time.Since(t0)
	busy1, all1 := machineTicks()
	// pgbench's backends exit after it: their CPU time counts once the
	// postmaster has reaped them (see treeTicks).
	time.Sleep(300 * time.Millisecond)
	db1, _ := treeTicks(p.dbPID)
	out := pgbenchOut{dbCPU: cpuPercent(db1-db0, wall)}
	if all1 > all0 {
		out.machine = float64(busy1-busy0) / float64(all1-all0) * float64(runtime.NumCPU()) * 100
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
		out.benchCPU = float64(us) / 1e6 / wall.Seconds() * 100
	}
	text := stdout.String()
	if strings.Contains(stderr.String(), "expected one row, got 0") {
		return out, errRowsExhausted
	}
	if runErr != nil || strings.Contains(text, "Run was aborted") {
		return out, fmt.Errorf("pgbench: %v\n%s\n%s", runErr, tail(stderr.String(), 3000), tail(text, 2000))
	}
	m := tpsRE.FindStringSubmatch(text)
	if m == nil {
		return out, fmt.Errorf("pgbench printed no tps:\n%s", tail(text, 2000))
	}
	out.tps, _ = strconv.ParseFloat(m[1], 64)
	if m := processedRE.FindStringSubmatch(text); m != nil {
		out.txns, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := failedRE.FindStringSubmatch(text); m != nil {
		out.failed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	lat, err := readTxnLogs(logDir)
	if err != nil {
		return out, err
	}
	out.p50, out.p99 = percentile(lat, 50), percentile(lat, 99)
	return out, nil
}

// readTxnLogs reads pgbench's per-transaction logs: the third field is the
// transaction's latency in microseconds.
func readTxnLogs(dir string) ([]time.Duration, error) {
	files, err := filepath.Glob(filepath.Join(dir, "txn*"))
	if err != nil {
		return nil, err
	}
	var lat []time.Duration
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				continue
			}
			lat = append(lat, time.Duration(us)*time.Microsecond)
		}
		fh.Close()
	}
	slices.Sort(lat)
	return lat, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
