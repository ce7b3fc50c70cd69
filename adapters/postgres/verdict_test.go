package postgres

import (
	"encoding/json"
	"reflect"
	"testing"
)

// jsonbVerdict is a verdict as PostgreSQL gives jsonb back: keys shortest
// first, a space after each colon and comma.
const jsonbVerdict = `{"key": "quarantine/01972b5e-6c3a-7b1d-9f2e-4a5b6c7d8e9f", "etag": "\"9f86d0\"", "bucket": "uploads", "result": "THREATS_FOUND", "reasons": [], "threats": ["EICAR-Test-File (not a virus)", "Ünïcödé \\ \/ \t"], "version_id": "v-1", "scan_status": "COMPLETED"}`

var verdictSeeds = []string{
	jsonbVerdict,
	`{"key": "k", "etag": "e", "bucket": "b", "result": "NO_THREATS_FOUND", "version_id": "", "scan_status": "COMPLETED"}`,
	`{"bucket":"b","key":"k","version_id":"v","etag":"e","scan_status":"COMPLETED","result":"NO_THREATS_FOUND"}`,
	`{}`, ` { } `, `{"threats": null}`, `{"Bucket": "b"}`, `{"bucket": "a", "bucket": "b"}`, `{"bucket": 1}`,
	`{"bucket": "a\u0062"}`, "{\"bucket\": \"\xff\"}", "{\"bucket\": \"a\tb\"}", `{"threats": ["a",]}`, `{"bucket": "b"} x`,
	`{"bucket": "b",}`, `[]`, `null`, ``, `{"unknown": "x"}`, `{"threats": ["a" "b"]}`, `{"reasons": [], "reasons": []}`,
}

// The fast path reads PostgreSQL's form of a stored verdict, escapes
// aside: were it to refuse it, every read would quietly pay for
// encoding/json again.
func TestDecodeVerdictFastReadsJSONB(t *testing.T) {
	got, ok := decodeVerdictFast([]byte(jsonbVerdict))
	want := verdictRow{Bucket: "uploads", Key: "quarantine/01972b5e-6c3a-7b1d-9f2e-4a5b6c7d8e9f", VersionID: "v-1", ETag: `"9f86d0"`,
		ScanStatus: "COMPLETED", Result: "THREATS_FOUND", Threats: []string{"EICAR-Test-File (not a virus)", "Ünïcödé \\ / \t"}, Reasons: []string{}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("decodeVerdictFast(%s) = %#v, %v; want %#v", jsonbVerdict, got, ok, want)
	}
	for _, in := range verdictSeeds[1:3] {
		if _, ok := decodeVerdictFast([]byte(in)); !ok {
			t.Errorf("decodeVerdictFast(%s): refused, want it read", in)
		}
	}
	// A \u escape goes to encoding/json, and comes back decoded all the same.
	v, err := decodeVerdict([]byte(`{"bucket": "a\u0062"}`))
	if err != nil || v.Bucket != "ab" {
		t.Errorf("decodeVerdict of a \\u escape: got %+v, %v", v, err)
	}
}

// Whatever the fast path accepts, encoding/json accepts and decodes to the
// same value; whatever it refuses is decided by encoding/json.
func FuzzDecodeVerdict(f *testing.F) {
	for _, s := range verdictSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want verdictRow
		wantErr := json.Unmarshal(in, &want)
		got, ok := decodeVerdictFast(in)
		if ok {
			if wantErr != nil {
				t.Fatalf("fast path read %q, which encoding/json refuses: %v", in, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast path read %q as %#v, encoding/json as %#v", in, got, want)
			}
		}
		got, err := decodeVerdict(in)
		if (err != nil) != (wantErr != nil) || (err == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("decodeVerdict(%q) = %#v, %v; encoding/json gives %#v, %v", in, got, err, want, wantErr)
		}
	})
}

func BenchmarkDecodeVerdict(b *testing.B) {
	in := []byte(`{"key": "quarantine/01972b5e-6c3a-7b1d-9f2e-4a5b6c7d8e9f", "etag": "9f86d081884c7d659a2feaa0c55ad015", "bucket": "uploads", "result": "NO_THREATS_FOUND", "version_id": "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY", "scan_status": "COMPLETED"}`)
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v verdictRow
			if err := json.Unmarshal(in, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeVerdict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeVerdict(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
