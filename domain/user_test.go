package domain

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUserVerification(t *testing.T) {
	t.Parallel()
	email, _ := ParseEmail("user@example.com")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := NewUser("u1", email, "$argon2id$...", t0)
	if u.Verified() {
		t.Fatal("got a verified new user, want unverified")
	}
	t1 := t0.Add(time.Hour)
	if !u.MarkVerified(t1) {
		t.Fatal("first MarkVerified: got false, want true")
	}
	if !u.Verified() || !u.EmailVerifiedAt.Equal(t1) || !u.UpdatedAt.Equal(t1) {
		t.Fatalf("got verified=%v at %v updated %v, want verified at %v", u.Verified(), u.EmailVerifiedAt, u.UpdatedAt, t1)
	}
	before := u
	if u.MarkVerified(t1.Add(time.Hour)) {
		t.Fatal("second MarkVerified: got true, want false")
	}
	if diff := cmp.Diff(before, u, cmp.AllowUnexported(Email{})); diff != "" {
		t.Errorf("second MarkVerified changed the user (-before +after):\n%s", diff)
	}
	u.SetPasswordHash("new", t1.Add(2*time.Hour))
	if u.PasswordHash != "new" || !u.UpdatedAt.Equal(t1.Add(2*time.Hour)) {
		t.Errorf("SetPasswordHash: got %q at %v", u.PasswordHash, u.UpdatedAt)
	}
}
