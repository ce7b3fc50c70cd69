package domain

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeFilename(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 300)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "report.pdf", "report.pdf"},
		{"unicode kept", "Grüße 😀.png", "Grüße 😀.png"},
		{"unix path", "../../etc/passwd", "passwd"},
		{"windows path", `C:\Users\me\cat.jpg`, "cat.jpg"},
		{"mixed separators", `a/b\c.txt`, "c.txt"},
		{"trailing slash", "dir/", "file"},
		{"nul", "a\x00b.txt", "ab.txt"},
		{"crlf", "line\r\nbreak.txt", "linebreak.txt"},
		{"tab and del", "a\tb\x7fc.txt", "abc.txt"},
		{"c1 control", "a\u0085b.txt", "ab.txt"},
		{"right-to-left override", "invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"isolates and marks", "\u2066a\u2069\u200Fb\u061C.txt", "ab.txt"},
		{"zero width and bom", "\uFEFF\u200Bname.txt", "name.txt"},
		{"line separator", "a\u2028b\u2029.txt", "ab.txt"},
		{"invalid utf-8", "\xff\xfeok.txt", "ok.txt"},
		{"surrounding space", "  spaced name.txt \u00a0", "spaced name.txt"},
		{"empty", "", "file"},
		{"blank", " \t ", "file"},
		{"only controls", "\x00\x01\u202E", "file"},
		{"dot", ".", "file"},
		{"dot dot", "..", "file"},
		{"path to dot dot", "a/..", "file"},
		{"leading dash kept", "-rf.txt", "-rf.txt"},
		{"dotfile kept", ".env", ".env"},
		{"long, extension kept", long + ".txt", strings.Repeat("a", 251) + ".txt"},
		{"long, no extension", long, strings.Repeat("a", 255)},
		{"long two-byte runes", strings.Repeat("é", 300), strings.Repeat("é", 127)},
		{"long three-byte runes with extension", strings.Repeat("日", 100) + ".pdf", strings.Repeat("日", 83) + ".pdf"},
		{"long extension is not kept", "a." + long, "a." + strings.Repeat("a", 253)},
		{"long with space at the cut", strings.Repeat("a", 250) + "      b.txt", strings.Repeat("a", 250) + ".txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := SanitizeFilename(tt.in)
			if got != tt.want {
				t.Fatalf("SanitizeFilename(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > FilenameMaxBytes {
				t.Errorf("got %d bytes, want at most %d", len(got), FilenameMaxBytes)
			}
		})
	}
}

func FuzzSanitizeFilename(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../x", "a\r\nb", "\u202Eexe.pdf", strings.Repeat("é", 200) + ".txt", "..", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeFilename(s)
		if got == "" || len(got) > FilenameMaxBytes || !utf8.ValidString(got) {
			t.Fatalf("SanitizeFilename(%q) = %q: empty, too long or invalid UTF-8", s, got)
		}
		if strings.ContainsAny(got, "\x00\r\n/\\\u202E\u2028") {
			t.Fatalf("SanitizeFilename(%q) = %q contains a forbidden character", s, got)
		}
		if again := SanitizeFilename(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}
