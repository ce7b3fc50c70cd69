package domain

import (
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
)

// SniffLen is how many leading bytes of an object SniffMatches looks at
// (all that net/http.DetectContentType considers). Callers read the first
// min(SniffLen, size) bytes of the object to check.
const SniffLen = 512

// sniffRule says how to check one declared content type: the media type
// net/http.DetectContentType must report for its bytes, and the file name
// extensions that fit it.
type sniffRule struct {
	detected string
	text     bool // also require no binary control bytes in the sniffed window
	exts     []string
}

// sniffRules are the checkable content types. The rule for every type is the
// same: a declared type is checkable only if the WHATWG sniffing algorithm
// that net/http.DetectContentType implements recognises it from its leading
// bytes, and a file is of that type only if DetectContentType says so. Types
// that sniffing cannot tell apart from something more dangerous are left out:
// SVG and HTML (scriptable), XML and JSON (they sniff as text and are only
// safe because of how they are served), Office documents (zip containers
// with macros). Plain text and CSV sniff as UTF-8 text, and are refused if
// they look like HTML or XML or carry binary control bytes (checked past a
// byte-order mark too, which DetectContentType does not do).
var sniffRules = map[string]sniffRule{
	"image/png":       {detected: "image/png", exts: []string{".png"}},
	"image/jpeg":      {detected: "image/jpeg", exts: []string{".jpg", ".jpeg", ".jpe", ".jfif"}},
	"image/gif":       {detected: "image/gif", exts: []string{".gif"}},
	"image/webp":      {detected: "image/webp", exts: []string{".webp"}},
	"image/bmp":       {detected: "image/bmp", exts: []string{".bmp"}},
	"application/pdf": {detected: "application/pdf", exts: []string{".pdf"}},
	"application/zip": {detected: "application/zip", exts: []string{".zip"}},
	"audio/mpeg":      {detected: "audio/mpeg", exts: []string{".mp3"}},
	"video/mp4":       {detected: "video/mp4", exts: []string{".mp4", ".m4v"}},
	"text/plain":      {detected: "text/plain", text: true, exts: []string{".txt", ".text", ".log", ".md"}},
	"text/csv":        {detected: "text/plain", text: true, exts: []string{".csv"}},
}

// contentTypeAliases maps non-standard names that browsers and tools send to
// the standard one.
var contentTypeAliases = map[string]string{
	"image/jpg":                    "image/jpeg",
	"image/pjpeg":                  "image/jpeg",
	"image/x-png":                  "image/png",
	"image/x-ms-bmp":               "image/bmp",
	"application/x-pdf":            "application/pdf",
	"application/x-zip-compressed": "application/zip",
	"audio/mp3":                    "audio/mpeg",
}

// SniffableContentTypes returns the content types SniffMatches can check, in
// order. Only these can be allowed for upload (UploadPolicy.Validate).
func SniffableContentTypes() []string {
	out := make([]string, 0, len(sniffRules))
	for ct := range sniffRules {
		out = append(out, ct)
	}
	slices.Sort(out)
	return out
}

// IsSniffable reports whether SniffMatches can check content type ct.
func IsSniffable(ct string) bool {
	n, err := NormalizeContentType(ct)
	if err != nil {
		return false
	}
	_, ok := sniffRules[n]
	return ok
}

// NormalizeContentType returns the lower-case media type of a Content-Type
// value without its parameters, with common aliases mapped to the standard
// name (image/jpg → image/jpeg). A value that is not a media type is a
// KindInvalid CodeContentTypeNotAllowed error.
func NormalizeContentType(s string) (string, error) {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil || !strings.Contains(mt, "/") {
		return "", &Error{Kind: KindInvalid, Code: CodeContentTypeNotAllowed, Op: "domain.NormalizeContentType",
			Msg: "The content type is not a valid media type.", Fields: []FieldError{{Location: "body.content_type", Message: "The content type is not a valid media type."}}}
	}
	if a, ok := contentTypeAliases[mt]; ok {
		mt = a
	}
	return mt, nil
}

// SniffMatches reports whether leading, the first bytes of a file (up to
// SniffLen), is of the declared content type: the type must be checkable
// (SniffableContentTypes) and net/http.DetectContentType must report it.
// Everything else is false: undeclared or unknown types, empty input, and
// any type whose bytes cannot be checked. Only the leading bytes are looked
// at; a file that is one thing at its start and another later passes, which
// is why accepted files are served as attachments with nosniff.
func SniffMatches(declared string, leading []byte) bool {
	ct, err := NormalizeContentType(declared)
	if err != nil {
		return false
	}
	rule, ok := sniffRules[ct]
	if !ok || len(leading) == 0 {
		return false
	}
	if len(leading) > SniffLen {
		leading = leading[:SniffLen]
	}
	got, _, err := mime.ParseMediaType(http.DetectContentType(leading))
	if err != nil || got != rule.detected {
		return false
	}
	if rule.text {
		return isText(leading)
	}
	return true
}

// isText reports whether b, after an optional UTF-8 byte-order mark, has none
// of the bytes the sniffing standard calls binary data. A UTF-16 byte-order
// mark makes DetectContentType report text without looking further, so it
// counts as binary here (0xFE and 0xFF never occur in UTF-8).
func isText(b []byte) bool {
	b = []byte(strings.TrimPrefix(string(b), "\xEF\xBB\xBF"))
	for _, c := range b {
		switch {
		case c <= 0x08, c == 0x0B, 0x0E <= c && c <= 0x1A, 0x1C <= c && c <= 0x1F, c == 0xFE, c == 0xFF:
			return false
		}
	}
	return true
}

// extensionFits reports whether a file name's extension is consistent with
// the content type ct: names without an extension fit any type; names with
// one fit only if it is one of the type's known extensions.
func extensionFits(name, ct string) bool {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" || ext == "." || ext == name {
		return true
	}
	rule, ok := sniffRules[ct]
	return ok && slices.Contains(rule.exts, ext)
}
