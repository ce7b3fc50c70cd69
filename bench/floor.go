package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The stack floor answers a question the ceiling cannot: how close to
// pgbench can any HTTP server get on this machine when it is written in
// Go with net/http and pgx, as gatehouse is? The floor is the least such a
// server can do for a scenario's request: read the bearer token, hash it,
// run the statements the server was captured running (with the same
// pool size, over the same TLS), and write the rows back as JSON. No
// router, middleware, session rules, logging, metrics or typed scanning.
//
// It runs in a process of its own (this program's binary with floorEnv
// set), so that its CPU is measured like the server's, and gets the same
// load as gatehouse at every concurrency, right after the ceiling. A
// gatehouse that reaches the floor has no framework cost left; a ceiling
// ratio the floor itself does not reach is one this stack cannot reach on
// this machine.

// Environment of the floor process.
const (
	floorEnv     = "GATEHOUSE_BENCH_FLOOR" // the plan, as JSON
	floorAddrEnv = "GATEHOUSE_BENCH_FLOOR_ADDR"
)

// floorPlan is what the floor runs for every request: the captured
// statements, each parameter literal or taken from the request.
type floorPlan struct {
	Statements []floorStatement `json:"statements"`
}

type floorStatement struct {
	SQL    string       `json:"sql"`
	Params []floorParam `json:"params"`
}

type floorParam struct {
	Null  bool        `json:"null,omitempty"`
	Parts []floorPart `json:"parts,omitempty"`
}

// floorPart is literal text, or an identity the request carries.
type floorPart struct {
	Text  string `json:"text,omitempty"`
	Ident string `json:"ident,omitempty"`
}

// The identities the floor can take from a request by itself: the bearer
// token's hash and the last segment of the path.
const (
	identTokenHash = "token_hash"
	identUploadID  = "upload_id"
)

// newFloorPlan turns a request's template into a floor plan. It reports
// false when a statement needs a value the request does not carry (another
// identity, such as the user's id, which only the session row gives, or a
// fresh id): the floor of such a request would have to do more than run
// the statements.
func newFloorPlan(t requestTemplate) (floorPlan, bool) {
	if len(t.Fresh) > 0 || len(t.Statements) == 0 {
		return floorPlan{}, false
	}
	var p floorPlan
	for _, st := range t.Statements {
		fs := floorStatement{SQL: st.SQL}
		for _, prm := range st.Params {
			fp := floorParam{Null: prm.null}
			for _, part := range prm.parts {
				switch {
				case part.fresh > 0:
					return floorPlan{}, false
				case part.ident == identTokenHash || part.ident == identUploadID:
					fp.Parts = append(fp.Parts, floorPart{Ident: part.ident})
				case part.ident != "":
					return floorPlan{}, false
				default:
					fp.Parts = append(fp.Parts, floorPart{Text: part.text})
				}
			}
			fs.Params = append(fs.Params, fp)
		}
		p.Statements = append(p.Statements, fs)
	}
	return p, true
}

// args returns a statement's parameters for the request's identities: a
// parameter that is just the token hash as its bytes (so pgx sends it in
// binary, as gatehouse does), any other as text, which is how pgbench
// sends them all.
func (st floorStatement) args(id identity) []any {
	out := make([]any, len(st.Params))
	for i, p := range st.Params {
		if p.Null {
			continue
		}
		if len(p.Parts) == 1 && p.Parts[0].Ident == identTokenHash {
			if b, err := hex.DecodeString(strings.TrimPrefix(id[identTokenHash], `\x`)); err == nil {
				out[i] = b
				continue
			}
		}
		var b strings.Builder
		for _, part := range p.Parts {
			if part.Ident != "" {
				b.WriteString(id[part.Ident])
			} else {
				b.WriteString(part.Text)
			}
		}
		out[i] = b.String()
	}
	return out
}

// floorIdentity is what a request to the floor is about.
func floorIdentity(r *http.Request) (identity, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	return identity{identTokenHash: `\x` + hex.EncodeToString(sum[:]), identUploadID: path.Base(r.URL.Path)}, true
}

// querier is the part of a pgx pool the floor uses.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgxRows, error)
	Ping(ctx context.Context) error
}

// pgxRows is the part of pgx.Rows the floor uses.
type pgxRows interface {
	Next() bool
	RawValues() [][]byte
	Err() error
	Close()
}

// floorHandler serves every request with plan: 401 without a bearer token
// or when the first statement finds no row (no such session), 500 when a
// statement fails, else 200 with every row's values as a JSON array of
// arrays of hex strings (null for NULL).
func floorHandler(db querier, plan floorPlan) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := floorIdentity(r)
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		body := make([]byte, 0, 1024)
		body = append(body, '[')
		for i, st := range plan.Statements {
			rows, err := db.Query(r.Context(), st.SQL, st.args(id)...)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			n := 0
			for rows.Next() {
				if len(body) > 1 {
					body = append(body, ',')
				}
				body = append(body, '[')
				for j, v := range rows.RawValues() {
					if j > 0 {
						body = append(body, ',')
					}
					if v == nil {
						body = append(body, "null"...)
						continue
					}
					body = append(body, '"')
					body = hex.AppendEncode(body, v)
					body = append(body, '"')
				}
				body = append(body, ']')
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if i == 0 && n == 0 {
				http.Error(w, "no such session", http.StatusUnauthorized)
				return
			}
		}
		body = append(body, ']')
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// poolQuerier adapts a pgx pool to querier.
type poolQuerier struct{ pool *pgxpool.Pool }

func (q poolQuerier) Query(ctx context.Context, sql string, args ...any) (pgxRows, error) {
	return q.pool.Query(ctx, sql, args...)
}

func (q poolQuerier) Ping(ctx context.Context) error { return q.pool.Ping(ctx) }

// floorMux is the floor's HTTP API: GET /readyz answers 200 once the
// database does (503 until then), and every other request is served with
// plan.
func floorMux(db querier, plan floorPlan) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.Ping(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/", floorHandler(db, plan))
	return mux
}

// runFloorIfChild serves as the floor and exits when this process was
// started as one.
func runFloorIfChild() {
	planJSON := os.Getenv(floorEnv)
	if planJSON == "" {
		return
	}
	if err := serveFloor(planJSON); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveFloor serves the plan on floorAddrEnv until SIGTERM, over a pool
// like the server's: pgx's defaults (statement cache included) with the
// app role's URL and workerConnsEnv connections. The URL is the harness's
// (sslmode=require, which pgx never downgrades), so the floor's queries go
// over TLS as the server's do.
func serveFloor(planJSON string) error {
	var plan floorPlan
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		return fmt.Errorf("the plan: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := pgxpool.ParseConfig(os.Getenv(workerDSNEnv))
	if err != nil {
		return err
	}
	conns, _ := strconv.Atoi(os.Getenv(workerConnsEnv))
	cfg.MaxConns = int32(max(conns, 1))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	srv := &http.Server{Addr: os.Getenv(floorAddrEnv), Handler: floorMux(poolQuerier{pool}, plan), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// startFloor starts the floor process for plan and waits until it answers.
func startFloor(ctx context.Context, db *database, plan floorPlan) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &server{addr: addr, stderr: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	s.cmd = exec.Command(exe)
	s.cmd.Env = append(os.Environ(), floorEnv+"="+string(planJSON), floorAddrEnv+"="+addr,
		workerDSNEnv+"="+db.cfg.DatabaseURL(), workerConnsEnv+"="+strconv.Itoa(db.cfg.MaxConns))
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.start(ctx, "the floor server"); err != nil {
		return nil, err
	}
	return s, nil
}
