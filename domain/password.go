package domain

import (
	"strings"
	"unicode/utf8"
)

// Password length limits, in characters (Unicode code points). Eight is
// ASVS's minimum; 128 leaves room for long passphrases (ASVS asks that at
// least 64 be allowed) while bounding the work a request can ask of the
// password hasher.
const (
	PasswordMinRunes = 8
	PasswordMaxRunes = 128
)

// Client codes of the password policy.
const (
	CodePasswordTooShort = "password_too_short"
	CodePasswordTooLong  = "password_too_long"
	CodePasswordIsEmail  = "password_is_email"
	CodeInvalidPassword  = "invalid_password" // not valid UTF-8
)

// CheckPassword applies the password policy to a new password for the account
// with the given address: 8 to 128 characters counted as code points, any
// characters at all (spaces, emoji, punctuation; no composition rules), and
// not the address itself compared case-insensitively. The password is checked
// exactly as typed: it is never trimmed, truncated or case-folded, here or by
// the hasher. Invalid UTF-8 is refused.
//
// Errors are *Error of KindInvalid with code CodeInvalidPassword,
// CodePasswordTooShort, CodePasswordTooLong or CodePasswordIsEmail and one
// field error located at body.password. Only the first broken rule is
// reported. The policy applies to new passwords (signup, reset, change);
// logging in checks the password against its hash only.
func CheckPassword(pw string, email Email) error {
	if !utf8.ValidString(pw) {
		return passwordError(CodeInvalidPassword, "The password contains bytes that are not valid text.")
	}
	n := utf8.RuneCountInString(pw)
	if n < PasswordMinRunes {
		return passwordError(CodePasswordTooShort, "Use at least 8 characters.")
	}
	if n > PasswordMaxRunes {
		return passwordError(CodePasswordTooLong, "Use at most 128 characters.")
	}
	if !email.IsZero() && strings.EqualFold(pw, email.String()) {
		return passwordError(CodePasswordIsEmail, "The password must not be your email address.")
	}
	return nil
}

func passwordError(code, msg string) *Error {
	return &Error{
		Kind:   KindInvalid,
		Code:   code,
		Op:     "domain.CheckPassword",
		Msg:    msg,
		Fields: []FieldError{{Location: "body.password", Message: msg}},
	}
}
