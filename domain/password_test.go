package domain

import (
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	email, err := ParseEmail("user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	const emoji = "🔐" // one code point, four bytes
	tests := []struct {
		name string
		pw   string
		want string // code, "" for accepted
	}{
		{"7 ascii", "abcdefg", CodePasswordTooShort},
		{"8 ascii", "abcdefgh", ""},
		{"128 ascii", strings.Repeat("a", 128), ""},
		{"129 ascii", strings.Repeat("a", 129), CodePasswordTooLong},
		{"7 emoji (28 bytes)", strings.Repeat(emoji, 7), CodePasswordTooShort},
		{"8 emoji", strings.Repeat(emoji, 8), ""},
		{"128 emoji (512 bytes)", strings.Repeat(emoji, 128), ""},
		{"129 emoji", strings.Repeat(emoji, 129), CodePasswordTooLong},
		{"1024 bytes", strings.Repeat("x", 1024), CodePasswordTooLong},
		{"empty", "", CodePasswordTooShort},
		{"8 spaces", "        ", ""},
		{"spaces count, not trimmed", "   abcde", ""},
		{"7 with trailing space", "abcdef ", CodePasswordTooShort},
		{"combining marks count as code points", "e\u0301e\u0301e\u0301e\u0301", ""},
		{"passphrase with spaces and emoji", "correct horse battery staple 🐎", ""},
		{"letters only, no composition rules", "aaaaaaaaaaaaaaaa", ""},
		{"the email", "user@example.com", CodePasswordIsEmail},
		{"the email upper-cased", "USER@Example.COM", CodePasswordIsEmail},
		{"the email with a space is another password", "user@example.com ", ""},
		{"invalid utf-8", "abcdefgh\xff", CodeInvalidPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPassword(tt.pw, email)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if got := CodeOf(err); got != tt.want {
				t.Fatalf("got code %q (%v), want %q", got, err, tt.want)
			}
			if KindOf(err) != KindInvalid {
				t.Errorf("got kind %v, want %v", KindOf(err), KindInvalid)
			}
			if f := FieldsOf(err); len(f) != 1 || f[0].Location != "body.password" {
				t.Errorf("got fields %+v, want one at body.password", f)
			}
			if strings.Contains(err.Error(), tt.pw) && tt.pw != "" {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestCheckPasswordZeroEmail(t *testing.T) {
	t.Parallel()
	if err := CheckPassword("anything-long", Email{}); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}
