package bench

import (
	"strings"
	"testing"
)

func TestFmtRatio(t *testing.T) {
	cases := []struct {
		r, min float64
		want   string
	}{
		{0.8994, 0.9, "0.899"}, // would read 0.90 and look met
		{0.9004, 0.9, "0.90"},
		{0.5952, 0.6, "0.595"},
		{0.48, 0.6, "0.48"},
		{0.7249, 0.5, "0.72"},
	}
	for _, c := range cases {
		if got := fmtRatio(c.r, c.min); got != c.want {
			t.Errorf("fmtRatio(%v, %v) = %q, want %q", c.r, c.min, got, c.want)
		}
	}
}

// The memory targets are judged in the unit the report shows them in.
func TestEvaluateMemoryInShownUnit(t *testing.T) {
	cases := []struct {
		kib   int64
		shown string
		met   bool
	}{
		{39454, "40.4 MB", false}, // under 40,000 KiB, over 40 MB
		{39062, "40.0 MB", true},
		{39063, "40.0 MB", false}, // 40,000,512 bytes
	}
	for _, c := range cases {
		rep := &Report{IdleRSSKiB: c.kib}
		rep.evaluate()
		var got *targetCheck
		for i := range rep.Targets {
			if strings.HasPrefix(rep.Targets[i].Target, "server idle RSS") {
				got = &rep.Targets[i]
			}
		}
		if got == nil {
			t.Fatalf("%d KiB: no idle RSS target in %+v", c.kib, rep.Targets)
		}
		if got.Measured != c.shown || got.Met != c.met {
			t.Errorf("%d KiB: got %q met=%v, want %q met=%v", c.kib, got.Measured, got.Met, c.shown, c.met)
		}
	}
}

func TestEvaluateRatioShowsMiss(t *testing.T) {
	rep := &Report{Scenarios: []*scenarioResult{{Name: "login", Title: "POST /v1/auth/login", Runs: []*runResult{
		{Conc: 32, Rate: 110, Ratio: 110 / 122.3, CeilingLabel: "argon2id 122.3 hashes/s"},
	}}}}
	rep.evaluate()
	if len(rep.Targets) != 1 {
		t.Fatalf("got targets %+v, want one", rep.Targets)
	}
	if got := rep.Targets[0]; got.Met || !strings.HasSuffix(got.Measured, "= 0.899") {
		t.Errorf("got %+v, want a miss shown as 0.899", got)
	}
}
