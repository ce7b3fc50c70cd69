package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// encodingJSON is what huma's default JSON format writes for v.
func encodingJSON(t testing.TB, v any) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return buf.String(), err
}

// viaJSONFormat is what jsonFormat writes for v.
func viaJSONFormat(t testing.TB, v any) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	err := jsonFormat.Marshal(&buf, v)
	return buf.String(), err
}

// hostileStrings are strings whose JSON takes every escaping rule.
var hostileStrings = []string{
	"", "plain", `"quoted"`, `back\slash`, "<tag>&amp;", "tab\tnew\nline\rcr", "\b\f\x00\x01\x1f\x7f",
	"ünïcödé ✓ 𝄞", "\u2028\u2029", "bad \xff\xfe utf8 \xc3", "\xe2\x80", "emoji 😀 end", "/slashes//",
	strings.Repeat("a", 300),
}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return hostileStrings[r.IntN(len(hostileStrings))]
	}
	n := r.IntN(24)
	b := make([]byte, n)
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = byte(r.IntN(0x20)) // control characters
		case 1:
			b[i] = byte(0x80 + r.IntN(0x80)) // UTF-8 pieces, often invalid
		default:
			b[i] = byte(0x20 + r.IntN(0x5f))
		}
	}
	return string(b)
}

func randomTime(r *rand.Rand) time.Time {
	t := time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)).UTC()
	switch r.IntN(4) {
	case 0:
		return t.Truncate(time.Second)
	case 1:
		return t.Truncate(time.Millisecond)
	case 2:
		return t.Truncate(time.Microsecond)
	}
	return t
}

func randomStrings(r *rand.Rand) []string {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, 1+r.IntN(3))
	for i := range out {
		out[i] = randomString(r)
	}
	return out
}

func randomUpload(r *rand.Rand) Upload {
	u := Upload{ID: randomString(r), Filename: randomString(r), ContentType: randomString(r), SizeBytes: r.Int64() - r.Int64(),
		Status: randomString(r), CreatedAt: randomTime(r), UpdatedAt: randomTime(r)}
	if r.IntN(2) == 0 {
		u.Scan = &ScanResult{Result: randomString(r), Code: randomString(r), Threats: randomStrings(r), Reason: randomString(r), CompletedAt: randomTime(r)}
	}
	return u
}

func randomBody(r *rand.Rand) any {
	switch r.IntN(5) {
	case 0:
		return randomUpload(r)
	case 1:
		headers := map[string]string{}
		for range r.IntN(4) {
			headers[randomString(r)] = randomString(r)
		}
		if r.IntN(4) == 0 {
			headers = nil
		}
		return CreatedUpload{Upload: randomUpload(r), Put: PresignedPut{URL: randomString(r), Method: "PUT", Headers: headers, ExpiresAt: randomTime(r)}}
	case 2:
		l := UploadList{}
		if r.IntN(4) != 0 {
			l.Items = []Upload{}
		}
		for range r.IntN(4) {
			l.Items = append(l.Items, randomUpload(r))
		}
		if r.IntN(2) == 0 {
			c := randomString(r)
			l.NextCursor = &c
		}
		return l
	case 3:
		return User{ID: randomString(r), Email: randomString(r), EmailVerified: r.IntN(2) == 0, CreatedAt: randomTime(r)}
	}
	return ScanResult{Result: randomString(r), Threats: randomStrings(r), CompletedAt: randomTime(r)}
}

// Every appender writes exactly what encoding/json writes, over random
// values full of strings that need escaping.
func TestJSONAppendersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 5000 {
		v := randomBody(r)
		if _, ok := v.(jsonAppender); !ok {
			t.Fatalf("%T is not a jsonAppender", v)
		}
		want, wantErr := encodingJSON(t, v)
		got, err := viaJSONFormat(t, v)
		if (err != nil) != (wantErr != nil) || got != want {
			t.Fatalf("value %d (%T %+v):\n got %q (error %v)\nwant %q (error %v)", i, v, v, got, err, want, wantErr)
		}
	}
}

// Values the appenders cannot write exactly go through encoding/json, which
// writes them (a zone) or refuses them (a year past 9999) as before.
func TestJSONAppendersFallBack(t *testing.T) {
	zoned := time.Date(2026, 11, 26, 9, 0, 0, 0, time.FixedZone("UTC+1", 3600))
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]any{
		"an upload in a zone":             Upload{CreatedAt: zoned, UpdatedAt: zoned},
		"a scan in a zone":                Upload{CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(0, 0).UTC(), Scan: &ScanResult{CompletedAt: zoned}},
		"an upload after 9999":            Upload{CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: far},
		"a list with an upload in a zone": UploadList{Items: []Upload{{CreatedAt: zoned, UpdatedAt: zoned}}},
		"a put expiring after 9999":       CreatedUpload{Upload: Upload{CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(0, 0).UTC()}, Put: PresignedPut{ExpiresAt: far}},
		"a user before year 0":            User{CreatedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, v := range cases {
		if _, ok := v.(jsonAppender).appendJSON(nil); ok {
			t.Errorf("%s: appendJSON says ok, want a fall-back", name)
		}
		want, wantErr := encodingJSON(t, v)
		got, err := viaJSONFormat(t, v)
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("%s:\n got %q (error %v)\nwant %q (error %v)", name, got, err, want, wantErr)
		}
	}
}

func FuzzJSONAppendString(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := encodingJSON(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendJSONString(nil, s)) + "\n"; got != want {
			t.Errorf("appendJSONString(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkUploadJSON compares writing the hot read's body with
// encoding/json and with its appender.
func BenchmarkUploadJSON(b *testing.B) {
	at := time.Date(2026, 11, 26, 9, 30, 15, 123456000, time.UTC)
	u := Upload{ID: "01972b5e-6c3a-7b1d-9f2e-4a5b6c7d8e9f", Filename: "holiday.png", ContentType: "image/png", SizeBytes: 48213,
		Status: "rejected", CreatedAt: at, UpdatedAt: at,
		Scan: &ScanResult{Result: "THREATS_FOUND", Code: "threats_found", Threats: []string{"EICAR-Test-File (not a virus)"},
			Reason: "Malware was found in the file.", CompletedAt: at}}
	for _, bc := range []struct {
		name string
		f    huma.Format
	}{{"encoding-json", huma.DefaultJSONFormat}, {"appender", jsonFormat}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.f.Marshal(io.Discard, u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
