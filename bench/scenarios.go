package bench

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// httpScenario is a load on `gatehouse serve`.
type httpScenario struct {
	name, title string
	unit        string
	want        int
	// request builds a request as the user u (and, for the hot read, one of
	// their uploads).
	request func(ds *dataset, rng *rand.Rand, buf []byte) []byte
	// capture builds the request whose statements are captured, and says
	// which rows it was about.
	capture func(ds *dataset) ([]byte, identity)
	// row picks the rows of the n-th ceiling transaction; nil: no pgbench
	// ceiling.
	row  func(ds *dataset) func(n int, rng *rand.Rand) identity
	rate float64
	// floor: also load the stack floor (see floor.go) with the same
	// requests, after each ceiling.
	floor bool
}

func bearer(u *seedUser) string { return "Authorization: Bearer " + u.Token }

func sessionIdentity(u *seedUser) identity {
	return identity{"token_hash": `\x` + hex.EncodeToString(u.TokenHash[:]), "user_id": u.ID.String()}
}

func randomUser(ds *dataset, rng *rand.Rand) *seedUser { return &ds.Users[rng.IntN(len(ds.Users))] }

// createUploadBody is a client's declaration of a new file.
var createUploadBody = []byte(`{"filename":"holiday.png","content_type":"image/png","size_bytes":48213}`)

// loginSeq gives every login its own user (round robin) and client address,
// so neither rate limit (10 per account, 30 per address in 15 minutes) is
// reached: the benchmark measures signing in, not being refused.
var loginSeq atomic.Uint64

func loginRequest(ds *dataset, buf []byte) []byte {
	n := loginSeq.Add(1)
	u := &ds.Users[int(n%uint64(len(ds.Users)))]
	body := fmt.Appendf(nil, `{"email":%q,"password":%q,"token":true}`, u.Email, benchPassword)
	xff := "X-Forwarded-For: 10." + strconv.Itoa(int(n>>16&255)) + "." + strconv.Itoa(int(n>>8&255)) + "." + strconv.Itoa(int(n&255))
	return httpRequest(buf, "POST", "/v1/auth/login", []string{xff}, body)
}

var httpScenarios = []httpScenario{
	{
		name: "hot-read", title: "GET /v1/uploads/{id}", unit: "req/s", want: 200, rate: 30000, floor: true,
		request: func(ds *dataset, rng *rand.Rand, buf []byte) []byte {
			u := randomUser(ds, rng)
			up := u.Uploads[rng.IntN(len(u.Uploads))]
			return httpRequest(buf, "GET", "/v1/uploads/"+up.String(), []string{bearer(u)}, nil)
		},
		capture: func(ds *dataset) ([]byte, identity) {
			u := &ds.Users[0]
			id := sessionIdentity(u)
			id["upload_id"] = u.Uploads[0].String()
			return httpRequest(nil, "GET", "/v1/uploads/"+u.Uploads[0].String(), []string{bearer(u)}, nil), id
		},
		row: func(ds *dataset) func(int, *rand.Rand) identity {
			return func(_ int, rng *rand.Rand) identity {
				u := randomUser(ds, rng)
				id := sessionIdentity(u)
				id["upload_id"] = u.Uploads[rng.IntN(len(u.Uploads))].String()
				return id
			}
		},
	},
	{
		name: "me", title: "GET /v1/me", unit: "req/s", want: 200, rate: 40000,
		request: func(ds *dataset, rng *rand.Rand, buf []byte) []byte {
			return httpRequest(buf, "GET", "/v1/me", []string{bearer(randomUser(ds, rng))}, nil)
		},
		capture: func(ds *dataset) ([]byte, identity) {
			u := &ds.Users[0]
			return httpRequest(nil, "GET", "/v1/me", []string{bearer(u)}, nil), sessionIdentity(u)
		},
		row: func(ds *dataset) func(int, *rand.Rand) identity {
			return func(_ int, rng *rand.Rand) identity { return sessionIdentity(randomUser(ds, rng)) }
		},
	},
	{
		name: "create-upload", title: "POST /v1/uploads", unit: "req/s", want: 201, rate: 20000,
		request: func(ds *dataset, rng *rand.Rand, buf []byte) []byte {
			return httpRequest(buf, "POST", "/v1/uploads", []string{bearer(randomUser(ds, rng))}, createUploadBody)
		},
		capture: func(ds *dataset) ([]byte, identity) {
			u := &ds.Users[1%len(ds.Users)]
			return httpRequest(nil, "POST", "/v1/uploads", []string{bearer(u)}, createUploadBody), sessionIdentity(u)
		},
		row: func(ds *dataset) func(int, *rand.Rand) identity {
			return func(_ int, rng *rand.Rand) identity { return sessionIdentity(randomUser(ds, rng)) }
		},
	},
	{
		name: "login", title: "POST /v1/auth/login", unit: "req/s", want: 200,
		request: func(ds *dataset, _ *rand.Rand, buf []byte) []byte { return loginRequest(ds, buf) },
		capture: func(ds *dataset) ([]byte, identity) {
			return loginRequest(ds, nil), identity{}
		},
	},
}

// workerScenarios are run in the worker process.
var workerScenarios = []struct {
	name, title, unit string
	ceiling           bool
}{
	{"verdicts", "scan verdicts (Lambda handler path)", "verdicts/s", true},
	{"outbox", "outbox dispatch (instant provider)", "msgs/s", false},
}

// scenarioNames lists every scenario in the order they run.
func scenarioNames() []string {
	var out []string
	for _, s := range httpScenarios {
		out = append(out, s.name)
	}
	for _, s := range workerScenarios {
		out = append(out, s.name)
	}
	return out
}
