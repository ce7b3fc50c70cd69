package domain

import (
	"strings"
	"testing"
)

func TestParseEmail(t *testing.T) {
	t.Parallel()
	local64 := strings.Repeat("a", 64)
	// 64 + 1 + 189 = 254 bytes, the longest address allowed.
	domain189 := strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 63) + ".com"
	tests := []struct {
		name string
		in   string
		want string // "" means invalid
	}{
		{"plain", "user@example.com", "user@example.com"},
		{"trimmed and lower-cased", "  User@Example.COM \t\n", "user@example.com"},
		{"subaddress and subdomain", "a.b+tag@mail.example.co.uk", "a.b+tag@mail.example.co.uk"},
		{"apostrophe and hyphen", "o'brien-x@my-host.example", "o'brien-x@my-host.example"},
		{"punycode domain", "x@xn--bcher-kva.example", "x@xn--bcher-kva.example"},
		{"local part of 64", local64 + "@example.com", local64 + "@example.com"},
		{"254 bytes", local64 + "@" + domain189, local64 + "@" + domain189},
		{"empty", "", ""},
		{"blank", "   ", ""},
		{"no at", "user", ""},
		{"no domain", "user@", ""},
		{"no local", "@example.com", ""},
		{"dotless domain", "user@localhost", ""},
		{"display name", "User <user@example.com>", ""},
		{"angle brackets", "<user@example.com>", ""},
		{"comment", "user@example.com (work)", ""},
		{"quoted local part", `"john doe"@example.com`, ""},
		{"two ats", "a@b@example.com", ""},
		{"two addresses", "a@example.com,b@example.com", ""},
		{"space inside", "us er@example.com", ""},
		{"empty label", "user@example..com", ""},
		{"leading dot", ".user@example.com", ""},
		{"double dot in local", "us..er@example.com", ""},
		{"label starts with hyphen", "user@-example.com", ""},
		{"label ends with hyphen", "user@example-.com", ""},
		{"underscore in domain", "user@exa_mple.com", ""},
		{"ip literal", "user@[192.0.2.1]", ""},
		{"non-ascii local", "üser@example.com", ""},
		{"non-ascii domain", "user@bücher.example", ""},
		{"kelvin sign folds to ascii", "\u212A@example.com", ""},
		{"header injection", "user@example.com\r\nBcc: x@example.net", ""},
		{"nul", "user\x00@example.com", ""},
		{"invalid utf-8", "user\xff@example.com", ""},
		{"local part of 65", "a" + local64 + "@example.com", ""},
		{"255 bytes", local64 + "@e" + domain189, ""},
		{"label of 64", "user@" + strings.Repeat("e", 64) + ".com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEmail(tt.in)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("ParseEmail(%q): got error %v, want %q", tt.in, err, tt.want)
				}
				if got.String() != tt.want {
					t.Fatalf("ParseEmail(%q): got %q, want %q", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseEmail(%q): got %q, want an error", tt.in, got)
			}
			if !got.IsZero() {
				t.Errorf("got %q with the error, want the zero Email", got)
			}
			if k, c := KindOf(err), CodeOf(err); k != KindInvalid || c != CodeInvalidEmail {
				t.Errorf("got kind %v code %q, want %v %q", k, c, KindInvalid, CodeInvalidEmail)
			}
			if f := FieldsOf(err); len(f) != 1 || f[0].Location != "body.email" || f[0].Message == "" {
				t.Errorf("got fields %+v, want one at body.email with a message", f)
			}
		})
	}
}

func TestParseEmailBoundaryLengths(t *testing.T) {
	t.Parallel()
	if n := len(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 63) + ".com"); n != EmailMaxLen {
		t.Fatalf("fixture is %d bytes, want %d", n, EmailMaxLen)
	}
}

func TestEmailAccessors(t *testing.T) {
	t.Parallel()
	e, err := ParseEmail("Someone@Mail.Example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Domain(), "mail.example.org"; got != want {
		t.Errorf("Domain: got %q, want %q", got, want)
	}
	if got, want := (Email{}).Domain(), ""; got != want {
		t.Errorf("zero Domain: got %q, want %q", got, want)
	}
	again, _ := ParseEmail("someone@mail.example.org")
	if e != again {
		t.Errorf("got %v != %v, want equal Emails for the same address", e, again)
	}
	if r := RestoreEmail(e.String()); r != e {
		t.Errorf("RestoreEmail: got %v, want %v", r, e)
	}
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"user@example.com", " A@B.CO ", "a@b", "x <y@z.com>", "a\r\n@b.com", "\u212A@example.com", `"q"@x.com`, "a@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEmail(s)
		if err != nil {
			if KindOf(err) != KindInvalid || CodeOf(err) != CodeInvalidEmail {
				t.Fatalf("got kind %v code %q, want invalid_email", KindOf(err), CodeOf(err))
			}
			return
		}
		addr := e.String()
		if len(addr) > EmailMaxLen || strings.ContainsAny(addr, "\r\n\x00 <>") || addr != strings.ToLower(addr) {
			t.Fatalf("ParseEmail(%q) = %q, which breaks the rules", s, addr)
		}
		again, err := ParseEmail(addr)
		if err != nil || again != e {
			t.Fatalf("not idempotent: ParseEmail(%q) = %q, %v; want %q", addr, again, err, addr)
		}
	})
}
