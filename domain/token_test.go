package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewSecretToken(t *testing.T) {
	t.Parallel()
	raw, hash, err := NewSecretToken(bytes.NewReader(bytes.Repeat([]byte{0xfb}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)); raw != want {
		t.Errorf("got raw %q, want %q", raw, want)
	}
	if len(raw) != SecretTokenLen || SecretTokenLen != base64.RawURLEncoding.EncodedLen(SecretTokenBytes) {
		t.Errorf("got length %d, want %d", len(raw), SecretTokenLen)
	}
	if want := TokenHash(sha256.Sum256([]byte(raw))); hash != want {
		t.Errorf("got hash %v, want sha256 of the raw token %v", hash, want)
	}
	if strings.ContainsAny(raw, "+/=") {
		t.Errorf("raw %q is not unpadded base64url", raw)
	}
}

func TestNewSecretTokenFromCryptoRandIsUnique(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 1000 {
		raw, h, err := NewSecretToken(nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[raw] {
			t.Fatalf("got duplicate token %q", raw)
		}
		seen[raw] = true
		if got, err := ParseSecretToken(raw); err != nil || got != h {
			t.Fatalf("ParseSecretToken(%q): got %v, %v; want %v, nil", raw, got, err, h)
		}
	}
}

func TestNewSecretTokenShortRead(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]*bytes.Reader{"empty": bytes.NewReader(nil), "31 bytes": bytes.NewReader(make([]byte, 31))} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := NewSecretToken(r); KindOf(err) != KindInternal {
				t.Fatalf("got %v, want a KindInternal error", err)
			}
		})
	}
	if _, _, err := NewSecretToken(iotest.ErrReader(errors.New("boom"))); KindOf(err) != KindInternal {
		t.Fatalf("got %v, want a KindInternal error", err)
	}
}

func TestParseSecretToken(t *testing.T) {
	t.Parallel()
	valid, _, err := NewSecretToken(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"valid", valid, true},
		{"empty", "", false},
		{"one short", valid[:42], false},
		{"one long", valid + "A", false},
		{"padded", valid + "=", false},
		{"standard alphabet +", "+" + valid[1:], false},
		{"standard alphabet /", "/" + valid[1:], false},
		{"space", " " + valid[1:], false},
		{"line breaks the decoder skips", valid[:20] + "\r\n" + valid[22:], false},
		{"non-canonical trailing bits", valid[:42] + "B", false},
		{"non-ascii", "é" + valid[2:], false},
		{"a uuid", "123e4567-e89b-12d3-a456-426614174000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := ParseSecretToken(tt.raw)
			if tt.ok {
				if err != nil || h != HashToken(tt.raw) {
					t.Fatalf("got %v, %v; want the hash, nil", h, err)
				}
				return
			}
			if KindOf(err) != KindInvalid || CodeOf(err) != CodeInvalidToken {
				t.Fatalf("got %v, want KindInvalid %s", err, CodeInvalidToken)
			}
			if !h.IsZero() {
				t.Errorf("got hash %v with the error, want zero", h)
			}
		})
	}
}

func TestTokenHashBytes(t *testing.T) {
	t.Parallel()
	h := HashToken("x")
	got, err := TokenHashFromBytes(h.Bytes())
	if err != nil || got != h {
		t.Fatalf("round trip: got %v, %v; want %v", got, err, h)
	}
	if len(h.String()) != 64 {
		t.Errorf("String: got %q, want 64 hex digits", h.String())
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := TokenHashFromBytes(make([]byte, n)); KindOf(err) != KindInternal {
			t.Errorf("%d bytes: got %v, want KindInternal", n, err)
		}
	}
	b := h.Bytes()
	b[0] ^= 0xff
	if h == HashToken("y") || b[0] == h[0] {
		t.Error("Bytes shares memory with the hash or hashes collide")
	}
}

func TestTokenPurpose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p     TokenPurpose
		valid bool
		ttl   time.Duration
	}{
		{PurposeVerifyEmail, true, 24 * time.Hour},
		{PurposePasswordReset, true, 30 * time.Minute},
		{"", false, 0},
		{"login", false, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.p), func(t *testing.T) {
			t.Parallel()
			if got := tt.p.Valid(); got != tt.valid {
				t.Errorf("Valid: got %v, want %v", got, tt.valid)
			}
			if got := tt.p.TTL(); got != tt.ttl {
				t.Errorf("TTL: got %v, want %v", got, tt.ttl)
			}
		})
	}
}

func TestIssueOneTimeToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	raw, tok, err := IssueOneTimeToken(nil, "t1", "u1", PurposePasswordReset, now)
	if err != nil {
		t.Fatal(err)
	}
	want := OneTimeToken{ID: "t1", UserID: "u1", Purpose: PurposePasswordReset, Hash: HashToken(raw), ExpiresAt: now.Add(30 * time.Minute), CreatedAt: now}
	if diff := cmp.Diff(want, tok); diff != "" {
		t.Errorf("token (-want +got):\n%s", diff)
	}
	if _, _, err := IssueOneTimeToken(nil, "t2", "u1", "bogus", now); KindOf(err) != KindInternal {
		t.Errorf("unknown purpose: got %v, want KindInternal", err)
	}
}

func TestOneTimeTokenUsable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	used := now.Add(time.Minute)
	for _, purpose := range []TokenPurpose{PurposeVerifyEmail, PurposePasswordReset} {
		other := PurposeVerifyEmail
		if purpose == other {
			other = PurposePasswordReset
		}
		_, tok, err := IssueOneTimeToken(nil, "t", "u", purpose, now)
		if err != nil {
			t.Fatal(err)
		}
		ttl := purpose.TTL()
		usedTok := tok
		usedTok.UsedAt = &used
		tests := []struct {
			name    string
			tok     OneTimeToken
			at      time.Time
			purpose TokenPurpose
			ok      bool
		}{
			{"at issue", tok, now, purpose, true},
			{"TTL-1s", tok, now.Add(ttl - time.Second), purpose, true},
			{"TTL-1ns", tok, now.Add(ttl - 1), purpose, true},
			{"exactly TTL", tok, now.Add(ttl), purpose, false},
			{"TTL+1s", tok, now.Add(ttl + time.Second), purpose, false},
			{"used", usedTok, now.Add(2 * time.Minute), purpose, false},
			{"other purpose", tok, now, other, false},
			{"unknown purpose", tok, now, "bogus", false},
		}
		for _, tt := range tests {
			t.Run(string(purpose)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				err := tt.tok.Usable(tt.at, tt.purpose)
				if tt.ok {
					if err != nil {
						t.Fatalf("got %v, want nil", err)
					}
					return
				}
				// Every refusal is the same error: no oracle.
				if diff := cmp.Diff(InvalidTokenError(), err); diff != "" {
					t.Fatalf("error (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestOneTimeTokenUseOnce(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	_, tok, _ := IssueOneTimeToken(nil, "t", "u", PurposeVerifyEmail, now)
	if err := tok.Use(now.Add(time.Minute), PurposeVerifyEmail); err != nil {
		t.Fatalf("first use: got %v, want nil", err)
	}
	if tok.UsedAt == nil || !tok.UsedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("got UsedAt %v, want %v", tok.UsedAt, now.Add(time.Minute))
	}
	if err := tok.Use(now.Add(2*time.Minute), PurposeVerifyEmail); CodeOf(err) != CodeInvalidToken {
		t.Fatalf("second use: got %v, want %s", err, CodeInvalidToken)
	}
	if !tok.UsedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("second use moved UsedAt to %v", tok.UsedAt)
	}
}

func FuzzParseSecretToken(f *testing.F) {
	valid, _, _ := NewSecretToken(bytes.NewReader(make([]byte, 32)))
	for _, s := range []string{valid, "", valid[:42] + "B", valid + "=", strings.Repeat("-", 43), strings.Repeat("_", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, err := ParseSecretToken(raw)
		if err != nil {
			if CodeOf(err) != CodeInvalidToken {
				t.Fatalf("got %v, want %s", err, CodeInvalidToken)
			}
			return
		}
		b, derr := base64.RawURLEncoding.DecodeString(raw)
		if derr != nil || len(b) != SecretTokenBytes || base64.RawURLEncoding.EncodeToString(b) != raw || h != HashToken(raw) {
			t.Fatalf("accepted %q, which does not round-trip as %d bytes", raw, SecretTokenBytes)
		}
		if sh, err := ParseSessionToken(raw); err != nil || sh != h {
			t.Fatalf("ParseSessionToken disagrees on %q: %v", raw, err)
		}
	})
}
