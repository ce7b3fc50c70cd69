package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }

// hotReadTemplate is a template like the hot read's: a token hash and an
// upload id among literal text, and a NULL.
func hotReadTemplate(t *testing.T) (requestTemplate, identity) {
	t.Helper()
	id := identity{
		"token_hash": `\x` + strings.Repeat("ab", 32),
		"upload_id":  "0190a0b0-c0d0-7e00-8f00-000000000001",
		"user_id":    "0190a0b0-c0d0-7e00-8f00-0000000000ff",
	}
	stmts := []capturedStatement{{
		SQL:    "SELECT * FROM sessions s LEFT JOIN uploads up ON up.id = $2 WHERE s.token_hash = $1 AND $3 IS NULL AND $4 = 'x'",
		Params: []*string{strp(id["token_hash"]), strp(id["upload_id"]), nil, strp("x")},
	}}
	return templatize(stmts, id), id
}

func TestNewFloorPlan(t *testing.T) {
	tmpl, _ := hotReadTemplate(t)
	plan, ok := newFloorPlan(tmpl)
	if !ok {
		t.Fatal("got no plan for statements that only need the token hash and the upload id")
	}
	want := floorPlan{Statements: []floorStatement{{
		SQL: tmpl.Statements[0].SQL,
		Params: []floorParam{
			{Parts: []floorPart{{Ident: "token_hash"}}},
			{Parts: []floorPart{{Ident: "upload_id"}}},
			{Null: true},
			{Parts: []floorPart{{Text: "x"}}},
		},
	}}}
	if !reflect.DeepEqual(plan, want) {
		t.Errorf("got plan %+v, want %+v", plan, want)
	}
	// The plan survives the trip to the floor process.
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var back floorPlan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, plan) {
		t.Errorf("after JSON got %+v, want %+v", back, plan)
	}
	reqID := identity{"token_hash": `\x01ff`, "upload_id": "u-1"}
	if got, want := plan.Statements[0].args(reqID), []any{[]byte{0x01, 0xff}, "u-1", nil, "x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got args %#v, want %#v", got, want)
	}
}

func TestNewFloorPlanRefusesValuesTheRequestLacks(t *testing.T) {
	id := identity{"token_hash": `\x` + strings.Repeat("cd", 32), "user_id": "0190a0b0-c0d0-7e00-8f00-0000000000ff"}
	cases := map[string][]capturedStatement{
		// The user's id comes from the session row, not the request.
		"another identity": {{SQL: "SELECT $1", Params: []*string{strp(id["user_id"])}}},
		// A new row's id is made by the server.
		"a fresh value": {{SQL: "INSERT INTO t VALUES ($1)", Params: []*string{strp("0190a0b0-c0d0-7e00-8f00-00000000abcd")}}},
		"no statement":  nil,
	}
	for name, stmts := range cases {
		t.Run(name, func(t *testing.T) {
			if plan, ok := newFloorPlan(templatize(stmts, id)); ok {
				t.Errorf("got plan %+v, want none", plan)
			}
		})
	}
}

// fakeQuerier answers every query with rows (or err) and records the
// arguments.
type fakeQuerier struct {
	rows    [][][]byte
	err     error
	rowsErr error
	pingErr error
	args    [][]any
}

func (q *fakeQuerier) Ping(context.Context) error { return q.pingErr }

func (q *fakeQuerier) Query(_ context.Context, _ string, args ...any) (pgxRows, error) {
	q.args = append(q.args, args)
	if q.err != nil {
		return nil, q.err
	}
	return &fakeRows{rows: q.rows, i: -1, err: q.rowsErr}, nil
}

type fakeRows struct {
	rows [][][]byte
	i    int
	err  error
}

func (r *fakeRows) Next() bool          { r.i++; return r.i < len(r.rows) }
func (r *fakeRows) RawValues() [][]byte { return r.rows[r.i] }
func (r *fakeRows) Err() error          { return r.err }
func (r *fakeRows) Close()              {}

func TestFloorHandler(t *testing.T) {
	tmpl, _ := hotReadTemplate(t)
	plan, _ := newFloorPlan(tmpl)
	const token = "tok-123"
	sum := sha256.Sum256([]byte(token))

	do := func(q *fakeQuerier, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/uploads/up-42", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		floorHandler(q, plan).ServeHTTP(rec, req)
		return rec
	}

	t.Run("rows", func(t *testing.T) {
		q := &fakeQuerier{rows: [][][]byte{{[]byte{0x01, 0xff}, nil, []byte("a")}}}
		rec := do(q, "Bearer "+token)
		if rec.Code != http.StatusOK {
			t.Fatalf("got %d %s, want 200", rec.Code, rec.Body)
		}
		var got [][]*string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("body %q is not JSON: %v", rec.Body, err)
		}
		want := [][]*string{{strp("01ff"), nil, strp("61")}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got body %s, want the row's values in hex", rec.Body)
		}
		if want := [][]any{{sum[:], "up-42", nil, "x"}}; !reflect.DeepEqual(q.args, want) {
			t.Errorf("got arguments %#v, want %#v", q.args, want)
		}
	})
	t.Run("no token", func(t *testing.T) {
		q := &fakeQuerier{rows: [][][]byte{{[]byte("a")}}}
		for _, auth := range []string{"", "Basic abc", "Bearer "} {
			if rec := do(q, auth); rec.Code != http.StatusUnauthorized {
				t.Errorf("Authorization %q: got %d, want 401", auth, rec.Code)
			}
		}
		if len(q.args) != 0 {
			t.Errorf("got %d queries, want none", len(q.args))
		}
	})
	t.Run("no session", func(t *testing.T) {
		if rec := do(&fakeQuerier{}, "Bearer "+token); rec.Code != http.StatusUnauthorized {
			t.Errorf("got %d, want 401", rec.Code)
		}
	})
	t.Run("query fails", func(t *testing.T) {
		rec := do(&fakeQuerier{err: errors.New("connection refused")}, "Bearer "+token)
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "connection refused") {
			t.Errorf("got %d %q, want 500 with the cause", rec.Code, rec.Body)
		}
	})
	t.Run("reading rows fails", func(t *testing.T) {
		q := &fakeQuerier{rows: [][][]byte{{[]byte("a")}}, rowsErr: errors.New("conn closed")}
		rec := do(q, "Bearer "+token)
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "conn closed") {
			t.Errorf("got %d %q, want 500 with the cause", rec.Code, rec.Body)
		}
	})
}

func TestFloorReadyz(t *testing.T) {
	plan := floorPlan{Statements: []floorStatement{{SQL: "SELECT 1"}}}
	for _, c := range []struct {
		ping error
		want int
	}{{nil, http.StatusOK}, {errors.New("connection refused"), http.StatusServiceUnavailable}} {
		q := &fakeQuerier{pingErr: c.ping}
		rec := httptest.NewRecorder()
		floorMux(q, plan).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != c.want {
			t.Errorf("ping error %v: got %d %q, want %d", c.ping, rec.Code, rec.Body, c.want)
		}
		if len(q.args) != 0 {
			t.Errorf("ping error %v: /readyz ran %d statements, want none", c.ping, len(q.args))
		}
	}
}
