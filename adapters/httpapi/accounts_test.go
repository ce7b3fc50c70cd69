package httpapi_test

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/httpapi/httpapitest"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// frontendOrigin is the origin the test servers allow by CORS.
const frontendOrigin = "https://app.example.com"

// cheapArgon2 is argon2id at the smallest parameters it accepts: the real
// algorithm and encoding, at a cost that keeps the suite fast.
func cheapArgon2(t *testing.T) ports.PasswordHasher {
	t.Helper()
	h, err := argon2id.NewWithOptions(argon2id.Options{
		Params:        argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		MaxConcurrent: 64,
	})
	if err != nil {
		t.Fatalf("argon2id: %v", err)
	}
	return h
}

// newInmemEnv serves the real handler over loopback HTTP, wired with the
// in-memory stores, the given hasher and a clock that moves only when told.
// Everything the server logs, at every level, is kept for the suite's leak
// check.
func newInmemEnv(t *testing.T, hasher ports.PasswordHasher) httpapitest.Env {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := inmem.NewStore()
	clock := inmem.NewClock(time.Now().Truncate(time.Second))
	accounts, err := app.NewAccounts(app.AccountStores{
		Tx: store, Users: store, Tokens: store, Sessions: store, Limiter: store, Outbox: store,
	}, hasher, clock, app.AccountsConfig{
		AppBaseURL: frontendOrigin,
		Sessions:   domain.DefaultSessionPolicy(),
		Limits:     app.DefaultRateLimits(),
	}, log)
	if err != nil {
		t.Fatalf("NewAccounts: %v", err)
	}
	cfg := baseConfig()
	cfg.MaxBodyBytes = 1 << 20
	cfg.CORSOrigins = []string{frontendOrigin}
	reg := prometheus.NewRegistry()
	s, err := httpapi.New(cfg, log, nil, reg, reg, accounts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return httpapitest.Env{
		BaseURL:       srv.URL,
		Outbox:        store.OutboxMessages,
		Clock:         clock,
		AllowedOrigin: frontendOrigin,
		Logs:          logs.String,
	}
}

// TestAccountsContract runs the HTTP contract of the accounts API against
// the in-memory adapters. Every case also checks that the server logged no
// password, token, cookie value or mail body it handled.
func TestAccountsContract(t *testing.T) {
	t.Parallel()
	httpapitest.RunAccounts(t, func(t *testing.T) httpapitest.Env {
		return newInmemEnv(t, cheapArgon2(t))
	})
}

// TestAccountsContractProductionHasher runs the contract with argon2id at
// its production parameters (19 MiB, two passes), as `gatehouse serve` does.
// The cases share one hasher, so at most GOMAXPROCS hashes run at once; the
// wait for a slot is long because the suite's parallel cases all queue for
// them (production keeps the short default, to shed load with 503s).
func TestAccountsContractProductionHasher(t *testing.T) {
	t.Parallel()
	hasher, err := argon2id.NewWithOptions(argon2id.Options{MaxWait: 5 * time.Minute})
	if err != nil {
		t.Fatalf("argon2id: %v", err)
	}
	if got, want := hasher.Params(), argon2id.DefaultParams(); got != want {
		t.Fatalf("hasher params: got %+v, want the production defaults %+v", got, want)
	}
	httpapitest.RunAccounts(t, func(t *testing.T) httpapitest.Env {
		return newInmemEnv(t, hasher)
	})
}
