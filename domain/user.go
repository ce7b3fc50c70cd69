package domain

import "time"

// User is an account: an email address that signs in with a password. It
// starts unverified and becomes verified once the owner of the address uses a
// verification token; it never goes back.
type User struct {
	ID    string
	Email Email
	// PasswordHash is the hasher's self-describing encoding (PHC string),
	// never the password.
	PasswordHash    string
	EmailVerifiedAt *time.Time // nil until verified
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// NewUser returns an unverified user created at now.
func NewUser(id string, email Email, passwordHash string, now time.Time) User {
	now = now.UTC()
	return User{ID: id, Email: email, PasswordHash: passwordHash, CreatedAt: now, UpdatedAt: now}
}

// Verified reports whether the user has proved they own their address.
func (u User) Verified() bool { return u.EmailVerifiedAt != nil }

// MarkVerified records that the address was verified at now and reports
// whether that changed anything. It is idempotent: verifying an already
// verified user keeps the first time and returns false, so callers emit
// user.email_verified once.
func (u *User) MarkVerified(now time.Time) bool {
	if u.Verified() {
		return false
	}
	t := now.UTC()
	u.EmailVerifiedAt = &t
	u.UpdatedAt = t
	return true
}

// SetPasswordHash replaces the stored hash (after a change, a reset or a
// parameter upgrade at login).
func (u *User) SetPasswordHash(encoded string, now time.Time) {
	u.PasswordHash = encoded
	u.UpdatedAt = now.UTC()
}
