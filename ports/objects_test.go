package ports_test

import (
	"mime"
	"strings"
	"testing"
	"unicode"

	"github.com/gatehouse/gatehouse/ports"
)

func TestAttachmentDisposition(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		filename string
		want     string
		wantName string // what mime.ParseMediaType reads back
	}{
		{"plain ASCII is kept in both forms", "report.pdf",
			`attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`, "report.pdf"},
		{"non-ASCII becomes _ in the fallback and UTF-8 percent-encoding in filename*", `résumé "final".pdf`,
			`attachment; filename="r_sum_ final.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`, `résumé "final".pdf`},
		{"a quote and semicolon cannot end the parameter", `a";b=c.png`,
			`attachment; filename="a;b=c.png"; filename*=UTF-8''a%22%3Bb%3Dc.png`, `a";b=c.png`},
		{"CR and LF are dropped so no header can be injected", "x\r\nSet-Cookie: a=b.txt",
			`attachment; filename="xSet-Cookie: a=b.txt"; filename*=UTF-8''xSet-Cookie%3A%20a%3Db.txt`, "xSet-Cookie: a=b.txt"},
		{"backslashes and percent signs leave the fallback only", `50%\off.txt`,
			`attachment; filename="50off.txt"; filename*=UTF-8''50%25%5Coff.txt`, `50%\off.txt`},
		{"a bidirectional override is dropped", "invoice\u202Efdp.exe",
			`attachment; filename="invoicefdp.exe"; filename*=UTF-8''invoicefdp.exe`, "invoicefdp.exe"},
		{"invalid UTF-8 is dropped", "a\xffb.txt",
			`attachment; filename="ab.txt"; filename*=UTF-8''ab.txt`, "ab.txt"},
		{"a name with nothing printable becomes file", "\x00\r\n",
			`attachment; filename="file"; filename*=UTF-8''file`, "file"},
		{"an all-CJK name keeps its extension in the fallback", "報告.pdf",
			`attachment; filename="__.pdf"; filename*=UTF-8''%E5%A0%B1%E5%91%8A.pdf`, "報告.pdf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ports.AttachmentDisposition(tc.filename)
			if got != tc.want {
				t.Errorf("AttachmentDisposition(%q):\n got %s\nwant %s", tc.filename, got, tc.want)
			}
			disp, params, err := mime.ParseMediaType(got)
			if err != nil {
				t.Fatalf("mime.ParseMediaType(%q): %v", got, err)
			}
			if disp != "attachment" || params["filename"] != tc.wantName {
				t.Errorf("parsed back: got %q, filename %q; want attachment, filename %q", disp, params["filename"], tc.wantName)
			}
		})
	}
}

func FuzzAttachmentDisposition(f *testing.F) {
	for _, s := range []string{"report.pdf", `résumé "final".pdf`, "a\r\nb", `\"%`, "\u202E", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filename string) {
		got := ports.AttachmentDisposition(filename)
		if strings.ContainsFunc(got, unicode.IsControl) || strings.ContainsFunc(got, func(r rune) bool { return r > unicode.MaxASCII }) {
			t.Fatalf("AttachmentDisposition(%q) = %q: contains a control or non-ASCII character", filename, got)
		}
		disp, params, err := mime.ParseMediaType(got)
		if err != nil || disp != "attachment" || params["filename"] == "" {
			t.Fatalf("AttachmentDisposition(%q) = %q: parsed as %q %q, %v", filename, got, disp, params, err)
		}
	})
}
