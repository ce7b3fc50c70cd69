package httpapi_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/adapters/httpapi/httpapitest"
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
// in-memory stores, the given hasher and a clock that moves only when told
// (see newInmemUploadsEnv, which it shares).
func newInmemEnv(t *testing.T, hasher ports.PasswordHasher) httpapitest.Env {
	t.Helper()
	return newInmemUploadsEnv(t, hasher).Env
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
