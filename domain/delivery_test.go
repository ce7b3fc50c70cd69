package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryPolicyBackoff(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 12, BaseDelay: 5 * time.Second, MaxDelay: time.Hour}
	cases := []struct {
		name     string
		attempts int
		r        float64
		want     time.Duration
	}{
		{"after the first failure the wait is at least half the base delay", 1, 0, 2500 * time.Millisecond},
		{"after the first failure the wait is below the base delay", 1, 0.999999, 4999997500 * time.Nanosecond},
		{"each failure doubles the floor", 2, 0, 5 * time.Second},
		{"each failure doubles the ceiling", 3, 0.5, 15 * time.Second},
		{"the ceiling stops at the max delay", 11, 0, 30 * time.Minute},
		{"many failures do not overflow", 1000, 0.5, 45 * time.Minute},
		{"a draw outside [0, 1) is clamped", 1, 7, 5 * time.Second},
		{"a negative draw is clamped", 1, -3, 2500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Backoff(tc.attempts, tc.r); got != tc.want {
				t.Errorf("Backoff(%d, %v): got %v, want %v", tc.attempts, tc.r, got, tc.want)
			}
		})
	}
}

func TestRetryPolicyBackoffGrows(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	// The least possible wait after n failures is at least the largest
	// possible wait after n-2: waits grow whatever the draws.
	for n := 3; n <= p.MaxAttempts; n++ {
		floor, earlierCeiling := p.Backoff(n, 0), p.Backoff(n-2, 1)
		if floor < earlierCeiling && floor < p.MaxDelay/2 {
			t.Errorf("Backoff(%d, 0) = %v, want at least Backoff(%d, 1) = %v", n, floor, n-2, earlierCeiling)
		}
	}
}

func TestRetryPolicyExhaustedAndValidate(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultRetryPolicy().Validate(): got %v, want nil", err)
	}
	if p.Exhausted(p.MaxAttempts-1) || !p.Exhausted(p.MaxAttempts) {
		t.Errorf("Exhausted: got %v at %d and %v at %d attempts, want false then true",
			p.Exhausted(p.MaxAttempts-1), p.MaxAttempts-1, p.Exhausted(p.MaxAttempts), p.MaxAttempts)
	}
	bad := []RetryPolicy{
		{MaxAttempts: 0, BaseDelay: time.Second, MaxDelay: time.Second},
		{MaxAttempts: 1, BaseDelay: 0, MaxDelay: time.Second},
		{MaxAttempts: 1, BaseDelay: time.Minute, MaxDelay: time.Second},
	}
	for _, b := range bad {
		if err := b.Validate(); !IsKind(err, KindInvalid) {
			t.Errorf("%+v.Validate(): got %v, want a KindInvalid error", b, err)
		}
	}
}

func TestScrubMailPayload(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		payload string
		want    MailMessage
	}{
		{"keeps id, recipient and subject and drops both bodies",
			`{"ID":"m1","To":"a@example.com","Subject":"Confirm","Text":"https://x/#token=SECRET","HTML":"<a href=\"https://x/#token=SECRET\">"}`,
			MailMessage{ID: "m1", To: "a@example.com", Subject: "Confirm"}},
		{"a payload that is not a mail message keeps nothing", `"#token=SECRET"`, MailMessage{}},
		{"a payload that is not JSON keeps nothing", `#token=SECRET`, MailMessage{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := ScrubMailPayload([]byte(tc.payload))
			if strings.Contains(string(out), "SECRET") {
				t.Fatalf("scrubbed payload still holds the secret: %s", out)
			}
			var got MailMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("scrubbed payload is not JSON: %v", err)
			}
			if d := cmp.Diff(got, tc.want); d != "" {
				t.Errorf("scrubbed payload differs (-got +want):\n%s", d)
			}
		})
	}
}

func TestDecodePayloads(t *testing.T) {
	t.Parallel()
	msg := MailMessage{ID: "m1", To: "a@example.com", Subject: "s", Text: "t"}
	mailOut, err := NewMailOutbox("verify_email", msg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{ID: "e1", Type: "user.registered", Version: 1, OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Detail: []byte(`{"user_id":"u1"}`)}
	evOut, err := NewEventOutbox(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeMailPayload(mailOut.Payload); err != nil || got != msg {
		t.Errorf("DecodeMailPayload: got %+v, %v; want %+v", got, err, msg)
	}
	if got, err := DecodeEventPayload(evOut.Payload); err != nil || cmp.Diff(got, ev) != "" {
		t.Errorf("DecodeEventPayload: got %+v, %v; want %+v", got, err, ev)
	}
	for _, bad := range []string{`{"ID":42,"Text":"#token=SECRET"}`, `#token=SECRET`} {
		_, errM := DecodeMailPayload([]byte(bad))
		_, errE := DecodeEventPayload([]byte(bad))
		for _, err := range []error{errM, errE} {
			if !IsKind(err, KindInvalid) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("decoding %s: got %v, want a KindInvalid error without the payload's text", bad, err)
			}
		}
	}
}
