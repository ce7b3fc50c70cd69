package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"time"
)

// SecretTokenBytes is how many random bytes a secret token carries: 256 bits,
// well above the 128 that ASVS asks of session, verification and reset
// tokens, and enough that a plain SHA-256 of it is a safe way to store it.
const SecretTokenBytes = 32

// SecretTokenLen is the length of a raw secret token: SecretTokenBytes in
// unpadded base64url (ceil(32*8/6) characters).
const SecretTokenLen = 43

// CodeInvalidToken is the client code for a verification or reset token that
// cannot be used, whatever the reason (malformed, unknown, expired, used, or
// for another purpose), so the answer reveals nothing about which.
const CodeInvalidToken = "invalid_token"

// TokenHash is the SHA-256 of a raw secret token: the only form in which
// tokens are stored or looked up. It is comparable and usable as a map key.
type TokenHash [sha256.Size]byte

// HashToken returns the SHA-256 of a raw token as presented.
func HashToken(raw string) TokenHash { return TokenHash(sha256.Sum256([]byte(raw))) }

// TokenHashFromBytes rebuilds a TokenHash read from storage. It returns a
// KindInternal error when b is not exactly 32 bytes, which means the stored
// row is corrupt.
func TokenHashFromBytes(b []byte) (TokenHash, error) {
	var h TokenHash
	if len(b) != len(h) {
		return h, Wrap(KindInternal, "domain.TokenHashFromBytes", errors.New("stored token hash is not 32 bytes"))
	}
	copy(h[:], b)
	return h, nil
}

// Bytes returns the hash as a new slice, for storage.
func (h TokenHash) Bytes() []byte { return append([]byte(nil), h[:]...) }

// String returns the hash in lower-case hex. A hash, unlike a raw token, is
// safe to log.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash, which no token has.
func (h TokenHash) IsZero() bool { return h == TokenHash{} }

// NewSecretToken draws SecretTokenBytes from r (crypto/rand.Reader when r is
// nil) and returns the raw token to hand to the user, once, and its hash to
// store. The raw token is unpadded base64url, so it travels in URLs, cookies
// and JSON unescaped. A short read is a KindInternal error.
func NewSecretToken(r io.Reader) (raw string, hash TokenHash, err error) {
	if r == nil {
		r = rand.Reader
	}
	var b [SecretTokenBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", TokenHash{}, Wrap(KindInternal, "domain.NewSecretToken", err)
	}
	raw = base64.RawURLEncoding.EncodeToString(b[:])
	return raw, HashToken(raw), nil
}

// wellFormedToken reports whether raw is exactly what NewSecretToken makes:
// SecretTokenLen characters of the base64url alphabet decoding canonically to
// SecretTokenBytes bytes. It runs before any lookup, so junk never reaches
// storage.
func wellFormedToken(raw string) bool {
	if len(raw) != SecretTokenLen {
		return false
	}
	// The alphabet is checked by hand because the decoder skips CR and LF.
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	return err == nil
}

// ParseSecretToken checks the shape of a presented verification or reset
// token and returns its hash for the lookup. A malformed token is refused
// with the same KindInvalid CodeInvalidToken error as an unknown, expired or
// used one.
func ParseSecretToken(raw string) (TokenHash, error) {
	if !wellFormedToken(raw) {
		return TokenHash{}, InvalidTokenError()
	}
	return HashToken(raw), nil
}

// InvalidTokenError returns the KindInvalid CodeInvalidToken error for a
// verification or reset token that cannot be used. Callers return it for a
// token they cannot find, too, so that unknown, malformed, expired, used and
// misdirected tokens are indistinguishable.
func InvalidTokenError() *Error {
	return &Error{
		Kind: KindInvalid,
		Code: CodeInvalidToken,
		Op:   "domain.OneTimeToken",
		Msg:  "The link is invalid or has expired. Request a new one.",
	}
}

// TokenPurpose says what a one-time token may be used for. A token works for
// its own purpose only.
type TokenPurpose string

// The purposes of one-time tokens.
const (
	PurposeVerifyEmail   TokenPurpose = "verify_email"
	PurposePasswordReset TokenPurpose = "password_reset"
)

// Lifetimes of one-time tokens. Verification links may wait in an inbox for a
// day; a reset link grants the account, so it lives half an hour (inside the
// 15 to 60 minutes the OWASP Forgot Password cheat sheet suggests).
const (
	VerifyEmailTTL   = 24 * time.Hour
	PasswordResetTTL = 30 * time.Minute
)

// Valid reports whether p is one of the known purposes.
func (p TokenPurpose) Valid() bool {
	return p == PurposeVerifyEmail || p == PurposePasswordReset
}

// TTL returns how long a token of purpose p stays usable, or 0 for an
// unknown purpose (so such a token is never usable).
func (p TokenPurpose) TTL() time.Duration {
	switch p {
	case PurposeVerifyEmail:
		return VerifyEmailTTL
	case PurposePasswordReset:
		return PasswordResetTTL
	}
	return 0
}

// OneTimeToken is a stored verification or reset token: its hash, whom and
// what it is for, and when it stops working. It is usable once, before
// ExpiresAt.
type OneTimeToken struct {
	ID        string
	UserID    string
	Purpose   TokenPurpose
	Hash      TokenHash
	ExpiresAt time.Time
	UsedAt    *time.Time // nil until used
	CreatedAt time.Time
}

// IssueOneTimeToken makes a new token for the user and purpose, expiring
// purpose.TTL() after now. It returns the raw token (to send, never to store
// or log) and the record to store. An unknown purpose is a KindInternal error
// (a bug in the caller); a randomness failure too.
func IssueOneTimeToken(r io.Reader, id, userID string, purpose TokenPurpose, now time.Time) (string, OneTimeToken, error) {
	if !purpose.Valid() {
		return "", OneTimeToken{}, Wrap(KindInternal, "domain.IssueOneTimeToken", errors.New("unknown token purpose "+string(purpose)))
	}
	raw, hash, err := NewSecretToken(r)
	if err != nil {
		return "", OneTimeToken{}, err
	}
	now = now.UTC()
	return raw, OneTimeToken{
		ID:        id,
		UserID:    userID,
		Purpose:   purpose,
		Hash:      hash,
		ExpiresAt: now.Add(purpose.TTL()),
		CreatedAt: now,
	}, nil
}

// Usable returns nil when the token may be used now for purpose: it is for
// that purpose, unused, and now is before ExpiresAt (at ExpiresAt it has
// expired). Every other case is the same KindInvalid CodeInvalidToken error,
// so a client cannot tell an expired token from a used or misdirected one.
func (t OneTimeToken) Usable(now time.Time, purpose TokenPurpose) error {
	if !purpose.Valid() || t.Purpose != purpose || t.UsedAt != nil || !now.Before(t.ExpiresAt) {
		return InvalidTokenError()
	}
	return nil
}

// Use marks the token used at now after checking Usable. Storage must make
// the use atomic (a conditional update on "not yet used") so that two
// concurrent requests cannot both spend one token.
func (t *OneTimeToken) Use(now time.Time, purpose TokenPurpose) error {
	if err := t.Usable(now, purpose); err != nil {
		return err
	}
	u := now.UTC()
	t.UsedAt = &u
	return nil
}
