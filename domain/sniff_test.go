package domain

import (
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Leading bytes of a real file of each checkable type.
var sniffSamples = map[string][]byte{
	"image/png":       []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
	"image/jpeg":      []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
	"image/gif":       []byte("GIF89a\x01\x00\x01\x00"),
	"image/webp":      []byte("RIFF\x24\x00\x00\x00WEBPVP8 "),
	"image/bmp":       []byte("BM\x36\x00\x00\x00\x00\x00"),
	"application/pdf": []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
	"application/zip": []byte("PK\x03\x04\x14\x00\x00\x00"),
	"audio/mpeg":      []byte("ID3\x04\x00\x00\x00\x00\x00\x00"),
	"video/mp4":       []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
	"text/plain":      []byte("Hello, world.\nSecond line.\n"),
	"text/csv":        []byte("name,size\nreport.pdf,1234\n"),
}

func TestSniffSamplesCoverEveryType(t *testing.T) {
	t.Parallel()
	var sampled []string
	for ct := range sniffSamples {
		sampled = append(sampled, ct)
	}
	slices.Sort(sampled)
	if got := SniffableContentTypes(); !slices.Equal(got, sampled) {
		t.Fatalf("SniffableContentTypes: got %v, want %v (one sample each)", got, sampled)
	}
}

// Each sample matches its own type and no other, except that plain text
// and CSV cannot be told apart by their bytes.
func TestSniffMatchesSamples(t *testing.T) {
	t.Parallel()
	text := map[string]bool{"text/plain": true, "text/csv": true}
	for declared := range sniffSamples {
		for sampleType, b := range sniffSamples {
			want := declared == sampleType || (text[declared] && text[sampleType])
			t.Run(declared+"/"+sampleType, func(t *testing.T) {
				t.Parallel()
				if got := SniffMatches(declared, b); got != want {
					t.Fatalf("got %v, want %v", got, want)
				}
			})
		}
	}
}

func TestSniffMatches(t *testing.T) {
	t.Parallel()
	png := sniffSamples["image/png"]
	tests := []struct {
		name     string
		declared string
		leading  []byte
		want     bool
	}{
		{"type parameters and case ignored", "IMAGE/PNG; foo=bar", png, true},
		{"alias", "image/x-png", png, true},
		{"jpg alias", "image/jpg", sniffSamples["image/jpeg"], true},
		{"zip alias from windows", "application/x-zip-compressed", sniffSamples["application/zip"], true},
		{"gif87a", "image/gif", []byte("GIF87a...."), true},
		{"more than 512 bytes", "image/png", append(append([]byte{}, png...), make([]byte, 2000)...), true},
		{"html declared as png", "image/png", []byte("<html><script>alert(1)</script>"), false},
		{"windows executable declared as png", "image/png", []byte("MZ\x90\x00\x03\x00\x00\x00"), false},
		{"windows executable declared as pdf", "application/pdf", []byte("MZ\x90\x00\x03\x00\x00\x00"), false},
		{"jpeg declared as png", "image/png", sniffSamples["image/jpeg"], false},
		{"html declared as text", "text/plain", []byte("  <!DOCTYPE html><html>"), false},
		{"script declared as text", "text/plain", []byte("<script>x()</script>"), false},
		{"xml declared as text", "text/plain", []byte("<?xml version=\"1.0\"?><svg/>"), false},
		{"binary declared as text", "text/plain", []byte("abc\x00def"), false},
		{"utf-8 bom text", "text/plain", []byte("\xef\xbb\xbfhello"), true},
		{"utf-8 bom then binary", "text/plain", []byte("\xef\xbb\xbfab\x00\x01"), false},
		{"utf-16 bom", "text/plain", []byte("\xfe\xff\x00h\x00i"), false},
		{"utf-8 text", "text/plain", []byte("Grüße 😀\n"), true},
		{"binary after the sniffed window passes", "text/plain", append([]byte(strings.Repeat("a", 512)), 0), true},
		{"svg is not checkable", "image/svg+xml", []byte("<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), false},
		{"html is not checkable", "text/html", []byte("<html></html>"), false},
		{"octet-stream is not checkable", "application/octet-stream", []byte{1, 2, 3}, false},
		{"docx is not checkable", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", sniffSamples["application/zip"], false},
		{"empty leading bytes", "text/plain", nil, false},
		{"empty declared", "", png, false},
		{"malformed declared", "image/", png, false},
		{"wildcard declared", "*/*", png, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SniffMatches(tt.declared, tt.leading); got != tt.want {
				t.Fatalf("SniffMatches(%q, %q): got %v, want %v", tt.declared, tt.leading, got, tt.want)
			}
		})
	}
}

func TestNormalizeContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"image/png", "image/png"},
		{"Image/PNG ; charset=binary", "image/png"},
		{"text/plain; charset=utf-8", "text/plain"},
		{"image/pjpeg", "image/jpeg"},
		{"audio/mp3", "audio/mpeg"},
		{"", ""},
		{"png", ""},
		{"image/png; =", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeContentType(tt.in)
			if tt.want == "" {
				if err == nil || CodeOf(err) != CodeContentTypeNotAllowed {
					t.Fatalf("got %q, %v; want %s", got, err, CodeContentTypeNotAllowed)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzSniffMatches(f *testing.F) {
	for _, b := range sniffSamples {
		f.Add(b)
	}
	f.Add([]byte("<html>"))
	f.Add([]byte("MZ\x90\x00"))
	f.Add([]byte("\xef\xbb\xbf\x00"))
	types := SniffableContentTypes()
	f.Fuzz(func(t *testing.T, b []byte) {
		detected, _, _ := mime.ParseMediaType(http.DetectContentType(b))
		for _, ct := range types {
			if !SniffMatches(ct, b) {
				continue
			}
			// Agrees with net/http for every checkable type.
			if want := sniffRules[ct].detected; detected != want {
				t.Fatalf("SniffMatches(%q, %q) is true but DetectContentType says %q", ct, b, detected)
			}
			// Never takes markup for anything, nor an executable for a binary type.
			trimmed := strings.ToLower(strings.TrimLeft(string(b), "\t\n\x0c\r "))
			if strings.HasPrefix(trimmed, "<html") || strings.HasPrefix(trimmed, "<script") ||
				(!sniffRules[ct].text && strings.HasPrefix(string(b), "MZ")) {
				t.Fatalf("SniffMatches(%q, %q) accepted markup or an executable", ct, b)
			}
		}
	})
}
