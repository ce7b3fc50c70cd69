package domain_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id, err := domain.NewID(t0.Add(time.Duration(i)*time.Millisecond), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !domain.ValidID(id) {
			t.Fatalf("got %q, which is not a canonical UUID", id)
		}
		if id[14] != '7' || !bytes.ContainsRune([]byte("89ab"), rune(id[19])) {
			t.Fatalf("got %q, want version 7 and the RFC 9562 variant", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("got %q after %q, want ids to sort by creation time", id, prev)
		}
		prev = id
	}
	if _, err := domain.NewID(t0, iotest.ErrReader(errors.New("no entropy"))); !domain.IsKind(err, domain.KindInternal) {
		t.Fatalf("got %v, want an internal error when randomness fails", err)
	}
}

func TestNewIDIsMonotonicWithinAMillisecond(t *testing.T) {
	t.Parallel()
	frozen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	prev := ""
	for range 10000 { // more than the 12-bit counter holds
		id, err := domain.NewID(frozen, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Fatalf("got %q after %q for the same clock reading, want strictly increasing ids", id, prev)
		}
		prev = id
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"0190f3c2-7b1a-7c3d-8e4f-0123456789ab":  true,
		"0190F3C2-7B1A-7C3D-8E4F-0123456789AB":  false,
		"0190f3c2-7b1a-7c3d-8e4f-0123456789a":   false,
		"0190f3c2x7b1a-7c3d-8e4f-0123456789ab":  false,
		"0190f3c2-7b1a-7c3d-8e4f-0123456789ag":  false,
		"':DROP TABLE users;--aaaaaaaaaaaaaaaa": false,
		"":                                      false,
	}
	for in, want := range cases {
		if got := domain.ValidID(in); got != want {
			t.Errorf("ValidID(%q): got %v, want %v", in, got, want)
		}
	}
}
