package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error by what a caller can do about it. The set is
// closed: the HTTP adapter maps each kind to one status code, and adapters
// translate vendor errors into one of these at their edge.
type Kind uint8

// The kinds of error. KindInternal is the zero value so that an error built
// without thought is treated as a bug rather than as the caller's fault.
const (
	KindInternal        Kind = iota // a bug or an unexpected failure; details are never shown to clients
	KindInvalid                     // the input breaks a rule; retrying the same input fails again
	KindNotFound                    // the thing does not exist, or the caller may not know it does
	KindConflict                    // the request clashes with the current state
	KindUnauthenticated             // no valid credentials
	KindForbidden                   // valid credentials, but not allowed
	KindRateLimited                 // too many attempts; try again later
	KindUnavailable                 // a dependency is down or slow; retrying later may succeed
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindUnauthenticated: "unauthenticated",
	KindForbidden:       "forbidden",
	KindRateLimited:     "rate_limited",
	KindUnavailable:     "unavailable",
}

// String returns the kind's snake_case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// FieldError names one input that broke a rule, for responses that list them.
type FieldError struct {
	Location string // where the value came from, e.g. "body.email"
	Message  string // what is wrong with it, safe to show to the client
}

// Error is gatehouse's one error type. Op says where it happened (for logs),
// Code is a stable snake_case machine code for clients (e.g.
// "invalid_credentials"), Msg is a message safe to show to clients, and Err
// is the wrapped cause, which is only ever logged.
type Error struct {
	Kind   Kind
	Code   string
	Op     string
	Msg    string
	Fields []FieldError
	// RetryAfter, when positive, tells a client of a KindRateLimited or
	// KindUnavailable error when trying again may succeed.
	RetryAfter time.Duration
	Err        error
}

// Error implements error. It includes the wrapped cause and so is meant for
// logs, never for clients: use PublicMessage for those.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else {
		b.WriteString(e.Kind.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error of the given kind with a client-safe code and message.
func E(kind Kind, code, msg string) *Error {
	return &Error{Kind: kind, Code: code, Msg: msg}
}

// Wrap builds an *Error of the given kind around a cause. The cause is logged
// but never shown to clients.
func Wrap(kind Kind, op string, err error) *Error {
	return &Error{Kind: kind, Op: op, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, or
// KindInternal when there is none. A nil error has no kind; KindOf(nil) is
// KindInternal and callers are expected to check for nil first.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err carries the given kind.
func IsKind(err error, kind Kind) bool {
	return err != nil && KindOf(err) == kind
}

// CodeOf returns the first non-empty Code in err's chain, or "" when there is
// none.
func CodeOf(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Code != "" {
			return e.Code
		}
		err = e.Err
	}
	return ""
}

// PublicMessage returns the first client-safe message in err's chain, or "".
func PublicMessage(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
	}
	return ""
}

// FieldsOf returns the field errors of the first *Error in err's chain that
// has any.
func FieldsOf(err error) []FieldError {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return nil
		}
		if len(e.Fields) > 0 {
			return e.Fields
		}
		err = e.Err
	}
	return nil
}

// RetryAfterOf returns the first positive RetryAfter in err's chain, or 0.
func RetryAfterOf(err error) time.Duration {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return 0
		}
		if e.RetryAfter > 0 {
			return e.RetryAfter
		}
		err = e.Err
	}
	return 0
}
