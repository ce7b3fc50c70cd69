package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func str(s string) *string { return &s }

func TestParseLoggedParams(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []*string
		bad  bool
	}{
		{"plain", `$1 = 'a', $2 = 'b c'`, []*string{str("a"), str("b c")}, false},
		{"null and quote", `$1 = NULL, $2 = 'it''s, $3 = x'`, []*string{nil, str("it's, $3 = x")}, false},
		{"bytea", `$1 = '\x00ff'`, []*string{str(`\x00ff`)}, false},
		{"out of order", `$2 = 'a'`, nil, true},
		{"unterminated", `$1 = 'a`, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseLoggedParams(c.in)
			if (err != nil) != c.bad {
				t.Fatalf("got error %v, want error %v", err, c.bad)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("parameters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatementLog(t *testing.T) {
	log := "2026-01-02 03:04:05.678 UTC [10] gatehouse_app@db LOG:  duration: 0.050 ms  parse stmtcache_1: SELECT a\n" +
		"\tFROM t WHERE id = $1\n" +
		"2026-01-02 03:04:05.679 UTC [10] gatehouse_app@db LOG:  duration: 0.010 ms  bind stmtcache_1: SELECT a\n" +
		"\tFROM t WHERE id = $1\n" +
		"2026-01-02 03:04:05.679 UTC [10] gatehouse_app@db DETAIL:  parameters: $1 = '7'\n" +
		"2026-01-02 03:04:05.680 UTC [11] gatehouse_admin@db LOG:  duration: 0.010 ms  statement: ALTER SYSTEM RESET x\n" +
		"2026-01-02 03:04:05.681 UTC [10] gatehouse_app@db LOG:  duration: 0.020 ms  execute stmtcache_1: SELECT a\n" +
		"\tFROM t WHERE id = $1\n" +
		"2026-01-02 03:04:05.681 UTC [10] gatehouse_app@db DETAIL:  parameters: $1 = '7'\n" +
		"2026-01-02 03:04:05.682 UTC [12] gatehouse_app@db LOG:  duration: 0.005 ms  statement: -- ping\n" +
		"2026-01-02 03:04:05.683 UTC [12] gatehouse_app@db LOG:  duration: 0.005 ms  statement: commit\n"
	got, err := parseStatementLog([]byte(log), "gatehouse_app")
	if err != nil {
		t.Fatal(err)
	}
	want := []capturedStatement{
		{SQL: "SELECT a\n\tFROM t WHERE id = $1", Params: []*string{str("7")}},
		{SQL: "commit"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
}

func TestTemplatizeAndPgbenchSQL(t *testing.T) {
	const (
		user    = "0198a000-0000-7000-8000-000000000001"
		fresh   = "0198a000-0000-7000-8000-0000000000ff"
		another = "0198a000-0000-7000-8000-000000000002"
	)
	stmts := []capturedStatement{{
		SQL:    "INSERT INTO t (id, owner, key, note, gone) VALUES ($1, $2, $3, $4, $5)",
		Params: []*string{str(fresh), str(user), str("quarantine/" + fresh), str(""), nil},
	}}
	tmpl := templatize(stmts, identity{"user_id": user})
	if diff := cmp.Diff([]string{"uuid"}, tmpl.Fresh); diff != "" {
		t.Errorf("fresh values (-want +got):\n%s", diff)
	}
	cases := []struct {
		name     string
		param    int
		constant bool
		rendered string
	}{
		{"fresh id", 0, false, "new-id"},
		{"identity", 1, false, another},
		{"fresh id inside", 2, false, "quarantine/new-id"},
		{"constant", 3, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := tmpl.Statements[0].Params[c.param]
			if got := p.constant(); got != c.constant {
				t.Errorf("constant: got %v, want %v", got, c.constant)
			}
			if got := p.render(identity{"user_id": another}, []string{"new-id"}); got != c.rendered {
				t.Errorf("rendered: got %q, want %q", got, c.rendered)
			}
		})
	}
	got, err := pgbenchSQL(tmpl.Statements[0], func(n int) string { return pgbenchVar("v", 0, n) })
	if err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO t (id, owner, key, note, gone) VALUES (:v0_1, :v0_2, :v0_3, '', NULL);"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
