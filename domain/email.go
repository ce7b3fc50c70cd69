package domain

import (
	"net/mail"
	"strings"
)

// Limits on an email address, in bytes. 254 is the longest address that fits
// the 256-octet SMTP path (RFC 5321 §4.5.3.1.3 minus the angle brackets); 64
// is the longest local part (§4.5.3.1.1).
const (
	EmailMaxLen      = 254
	EmailLocalMaxLen = 64
)

// CodeInvalidEmail is the client code of an address ParseEmail refuses.
const CodeInvalidEmail = "invalid_email"

// Email is a normalised, validated email address. The zero value is the empty
// address, which ParseEmail never returns. Values come from ParseEmail, or
// from RestoreEmail for addresses read back from storage, so a value of this
// type held anywhere has passed the rules of ParseEmail. Two Emails are equal
// with == exactly when they name the same account.
type Email struct {
	addr string
}

// ParseEmail trims surrounding white space, lower-cases s and accepts it only
// when it is one bare address (no display name, comment, angle brackets or
// quoted local part) as net/mail parses it, at most EmailMaxLen bytes with a
// local part of at most EmailLocalMaxLen, and a domain of at least two
// dot-separated host-name labels (letters, digits and inner hyphens; no IP
// literals). Only ASCII is accepted: internationalised addresses need
// SMTPUTF8, which not every mail provider delivers, and Unicode case folding
// is not stable enough to identify an account. Punycode (xn--) domains are
// fine.
//
// Errors are *Error of KindInvalid with code CodeInvalidEmail and one field
// error located at body.email. Normalising is idempotent: ParseEmail of a
// returned address's String gives the same address.
func ParseEmail(s string) (Email, error) {
	addr := strings.TrimSpace(s)
	if addr == "" {
		return Email{}, invalidEmail("Enter an email address.")
	}
	if len(addr) > EmailMaxLen {
		return Email{}, invalidEmail("The email address is too long.")
	}
	// Checked before lower-casing, which maps a few non-ASCII letters (the
	// Kelvin sign, for one) onto ASCII ones.
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c <= ' ' || c >= 0x7f {
			return Email{}, invalidEmail("The email address contains characters that are not allowed.")
		}
	}
	addr = strings.ToLower(addr)
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return Email{}, invalidEmail("Enter a single email address such as name@example.com.")
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if len(local) > EmailLocalMaxLen {
		return Email{}, invalidEmail("The part before the @ is too long.")
	}
	if !validMailDomain(domain) {
		return Email{}, invalidEmail("The part after the @ is not a valid domain.")
	}
	return Email{addr: addr}, nil
}

// validMailDomain reports whether d is at least two labels of letters, digits
// and hyphens, each 1 to 63 bytes, none starting or ending with a hyphen.
func validMailDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

func invalidEmail(msg string) *Error {
	return &Error{
		Kind:   KindInvalid,
		Code:   CodeInvalidEmail,
		Op:     "domain.ParseEmail",
		Msg:    "The email address is not valid.",
		Fields: []FieldError{{Location: "body.email", Message: msg}},
	}
}

// RestoreEmail rebuilds an Email that ParseEmail produced earlier and
// storage kept, without validating it again, so that tightening the rules
// never makes existing accounts unreadable. Use ParseEmail for anything
// that comes from outside.
func RestoreEmail(stored string) Email { return Email{addr: stored} }

// String returns the normalised address.
func (e Email) String() string { return e.addr }

// IsZero reports whether e is the zero (empty) address.
func (e Email) IsZero() bool { return e.addr == "" }

// Domain returns the part after the @, or "" for the zero address.
func (e Email) Domain() string {
	at := strings.LastIndexByte(e.addr, '@')
	if at < 0 {
		return ""
	}
	return e.addr[at+1:]
}
