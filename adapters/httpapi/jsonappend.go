package httpapi

import (
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// The response bodies of the busiest operations (an upload, a new upload
// with its presigned PUT, a page of uploads, the signed-in user) write
// their own JSON instead of going through encoding/json's reflection on
// every request. What they write is byte for byte what encoding/json
// writes for them with HTML escaping off, as huma's JSON format has it:
// TestJSONAppendersMatchEncodingJSON and FuzzJSONAppendString hold them to
// that. A value an appender cannot write exactly (a time outside UTC or
// years 0–9999, which encoding/json refuses or writes differently) falls
// back to encoding/json, errors and all.

// jsonAppender is a response body that appends its own JSON to b; ok is
// false when it cannot, and then nothing may be assumed about the result.
type jsonAppender interface {
	appendJSON(b []byte) (out []byte, ok bool)
}

// jsonFormat is huma's JSON format with the jsonAppender fast path.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		if a, ok := v.(jsonAppender); ok {
			bp := jsonBuffers.Get().(*[]byte)
			defer putJSONBuffer(bp)
			if b, ok := a.appendJSON((*bp)[:0]); ok {
				b = append(b, '\n') // as json.Encoder.Encode ends every value
				*bp = b
				_, err := w.Write(b)
				return err
			}
		}
		return huma.DefaultJSONFormat.Marshal(w, v)
	},
	Unmarshal: huma.DefaultJSONFormat.Unmarshal,
}

var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// putJSONBuffer returns a buffer to the pool unless a rare huge body grew
// it: those are left to the garbage collector.
func putJSONBuffer(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		jsonBuffers.Put(bp)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string without HTML
// escaping: quotes, backslashes and control characters escaped (\b \f \n
// \r \t by name, the rest as \u00XX), invalid UTF-8 as \ufffd, and U+2028
// and U+2029 as \u2028 and \u2029.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does, for a UTC time
// with a year in 0–9999; ok is false for any other.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC || t.Year() < 0 || t.Year() > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// appendJSONKey appends "name": for a member name that needs no escaping.
func appendJSONKey(b []byte, first bool, name string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func (u Upload) appendJSON(b []byte) ([]byte, bool) {
	ok := true
	b = append(b, '{')
	b = appendJSONKey(b, true, "id")
	b = appendJSONString(b, u.ID)
	b = appendJSONKey(b, false, "filename")
	b = appendJSONString(b, u.Filename)
	b = appendJSONKey(b, false, "content_type")
	b = appendJSONString(b, u.ContentType)
	b = appendJSONKey(b, false, "size_bytes")
	b = strconv.AppendInt(b, u.SizeBytes, 10)
	b = appendJSONKey(b, false, "status")
	b = appendJSONString(b, u.Status)
	b = appendJSONKey(b, false, "scan")
	if u.Scan == nil {
		b = append(b, "null"...)
	} else if b, ok = u.Scan.appendJSON(b); !ok {
		return b, false
	}
	b = appendJSONKey(b, false, "created_at")
	if b, ok = appendJSONTime(b, u.CreatedAt); !ok {
		return b, false
	}
	b = appendJSONKey(b, false, "updated_at")
	b, ok = appendJSONTime(b, u.UpdatedAt)
	return append(b, '}'), ok
}

func (r ScanResult) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, '{')
	b = appendJSONKey(b, true, "result")
	b = appendJSONString(b, r.Result)
	b = appendJSONKey(b, false, "code")
	b = appendJSONString(b, r.Code)
	b = appendJSONKey(b, false, "threats")
	b = appendJSONStrings(b, r.Threats)
	b = appendJSONKey(b, false, "reason")
	b = appendJSONString(b, r.Reason)
	b = appendJSONKey(b, false, "completed_at")
	b, ok := appendJSONTime(b, r.CompletedAt)
	return append(b, '}'), ok
}

// appendJSONStrings appends a []string as encoding/json does: null when
// nil.
func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func (p PresignedPut) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, '{')
	b = appendJSONKey(b, true, "url")
	b = appendJSONString(b, p.URL)
	b = appendJSONKey(b, false, "method")
	b = appendJSONString(b, p.Method)
	b = appendJSONKey(b, false, "headers")
	if p.Headers == nil {
		b = append(b, "null"...)
	} else {
		// encoding/json writes map members sorted by key.
		keys := make([]string, 0, len(p.Headers))
		for k := range p.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, p.Headers[k])
		}
		b = append(b, '}')
	}
	b = appendJSONKey(b, false, "expires_at")
	b, ok := appendJSONTime(b, p.ExpiresAt)
	return append(b, '}'), ok
}

func (c CreatedUpload) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, '{')
	b = appendJSONKey(b, true, "upload")
	b, ok := c.Upload.appendJSON(b)
	if !ok {
		return b, false
	}
	b = appendJSONKey(b, false, "put")
	b, ok = c.Put.appendJSON(b)
	return append(b, '}'), ok
}

func (l UploadList) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, '{')
	b = appendJSONKey(b, true, "items")
	if l.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, u := range l.Items {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = u.appendJSON(b); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	b = appendJSONKey(b, false, "next_cursor")
	if l.NextCursor == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *l.NextCursor)
	}
	return append(b, '}'), true
}

func (u User) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, '{')
	b = appendJSONKey(b, true, "id")
	b = appendJSONString(b, u.ID)
	b = appendJSONKey(b, false, "email")
	b = appendJSONString(b, u.Email)
	b = appendJSONKey(b, false, "email_verified")
	b = strconv.AppendBool(b, u.EmailVerified)
	b = appendJSONKey(b, false, "created_at")
	b, ok := appendJSONTime(b, u.CreatedAt)
	return append(b, '}'), ok
}
