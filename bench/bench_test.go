package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunWorkerIfChild()
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness at a tiny scale: a cluster, a seed of a
// few users, the server, the hot read and the verdicts for a second at 4
// clients, with their ceilings. It checks that every part produced numbers
// and that nothing is left behind.
func TestSmoke(t *testing.T) {
	tmp := t.TempDir()
	// The cluster may run as another user (when the tests run as root),
	// who must be able to pass through.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", tmp)
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var stdout bytes.Buffer
	o := DefaultOptions()
	o.Scenarios = []string{"hot-read", "verdicts"}
	o.Concurrency = []int{4}
	o.Duration, o.Warmup = time.Second, 200*time.Millisecond
	o.Users, o.UploadsPerUser = 20, 5
	o.VerdictsPerRun = 2000
	o.DBMaxConns = 4
	o.Tune = false
	o.Out = out
	o.Command = "go test ./bench"
	o.Stdout = &stdout
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		scenario   string
		statements int
	}{
		{"hot-read", 1},  // the session with its user and the upload, joined
		{"verdicts", 10}, // find the upload; two transactions, the second with the event
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			s := rep.scenario(c.scenario)
			if s == nil {
				t.Fatalf("got no result, want one")
			}
			if len(s.Statements) != c.statements {
				t.Errorf("got %d captured statements, want %d", len(s.Statements), c.statements)
			}
			if len(s.Runs) != 1 {
				t.Fatalf("got %d runs, want 1", len(s.Runs))
			}
			r := s.Runs[0]
			if r.Rate <= 0 || r.Errors != 0 {
				t.Errorf("got %.0f/s with %d errors (%s), want a positive rate and no errors", r.Rate, r.Errors, r.FirstErr)
			}
			if r.Ceiling == nil || r.Ceiling.TPS <= 0 {
				t.Errorf("got ceiling %+v, want a positive one", r.Ceiling)
			}
			if r.CPU.DB <= 0 {
				t.Errorf("got database CPU %.1f%%, want some", r.CPU.DB)
			}
		})
	}
	// The hot read's stack floor ran at every concurrency, with the ceiling
	// of gatehouse's run beside it.
	hot := rep.scenario("hot-read")
	if hot == nil || len(hot.Floor) != 1 {
		t.Fatalf("got floor runs %v, want one", hot)
	}
	if f := hot.Floor[0]; f.Conc != 4 || f.Rate <= 0 || f.Errors != 0 || f.Ceiling == nil || f.Ceiling.TPS != hot.Runs[0].Ceiling.TPS || f.CPU.Server <= 0 {
		t.Errorf("got floor run %+v (first error %q), want 4 clients, a positive rate and CPU, no errors and gatehouse's ceiling", f, f.FirstErr)
	}
	if rep.IdleRSSKiB <= 0 {
		t.Errorf("got idle RSS %d KiB, want a reading", rep.IdleRSSKiB)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, bytes.TrimSpace(stdout.Bytes())) && !strings.Contains(stdout.String(), string(written)) {
		t.Errorf("the report written differs from the one printed")
	}
	for _, want := range []string{"| GET /v1/uploads/{id} | 4 |", "## Ceilings", "## Machine", "## Stack floor"} {
		if !bytes.Contains(written, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}
