package guardduty_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/domain"
)

const (
	fixtureBucket = "amzn-s3-demo-bucket"
	fixtureKey    = "quarantine/REPLACE-WITH-UPLOAD-KEY"
	fixtureETag   = "ASIAI44QH8DHBEXAMPLE"
	fixtureVer    = "d41d8cd98f00b204e9800998eEXAMPLE"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// fixtureVerdict is the verdict every fixture carries, with its statuses.
func fixtureVerdict(scanStatus, result string, threats ...string) domain.ScanVerdict {
	return domain.ScanVerdict{Bucket: fixtureBucket, Key: fixtureKey, VersionID: fixtureVer, ETag: fixtureETag,
		ScanStatus: scanStatus, Result: result, Threats: threats}
}

var verdictOpts = cmpopts.EquateEmpty()

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file      string
		want      domain.ScanVerdict
		wantClass domain.VerdictClass
	}{
		{"no-threats-found.json", fixtureVerdict("COMPLETED", domain.ScanNoThreatsFound), domain.VerdictClean},
		{"threats-found.json", fixtureVerdict("COMPLETED", domain.ScanThreatsFound, "EICAR-Test-File (not a virus)"), domain.VerdictInfected},
		{"unsupported.json", fixtureVerdict("SKIPPED", domain.ScanUnsupported), domain.VerdictNotClean},
		{"access-denied.json", fixtureVerdict("SKIPPED", domain.ScanAccessDenied), domain.VerdictNotClean},
		{"failed.json", fixtureVerdict("FAILED", domain.ScanFailed), domain.VerdictNotClean},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(cases) {
		t.Fatalf("testdata has %d fixtures, the table %d: every fixture needs a case", len(files), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw := readFixture(t, tc.file)
			got, err := guardduty.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if d := cmp.Diff(got, tc.want, verdictOpts); d != "" {
				t.Errorf("Decode (-got +want):\n%s", d)
			}
			if c := got.Class(); c != tc.wantClass {
				t.Errorf("class: got %v, want %v", c, tc.wantClass)
			}
			// The same event as the Lambda runtime parses it.
			var ev events.EventBridgeEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("unmarshal EventBridgeEvent: %v", err)
			}
			got, err = guardduty.DecodeEvent(ev)
			if err != nil {
				t.Fatalf("DecodeEvent: got error %v, want nil", err)
			}
			if d := cmp.Diff(got, tc.want, verdictOpts); d != "" {
				t.Errorf("DecodeEvent (-got +want):\n%s", d)
			}
		})
	}
}

// variant returns the no-threats fixture with its detail edited by edit.
func variant(t *testing.T, edit func(ev, detail map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readFixture(t, "no-threats-found.json"), &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev, ev["detail"].(map[string]any))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func objectDetails(d map[string]any) map[string]any { return d["s3ObjectDetails"].(map[string]any) }
func resultDetails(d map[string]any) map[string]any { return d["scanResultDetails"].(map[string]any) }

func TestDecodeIsLenient(t *testing.T) {
	t.Parallel()
	clean := fixtureVerdict("COMPLETED", domain.ScanNoThreatsFound)
	with := func(f func(*domain.ScanVerdict)) domain.ScanVerdict {
		v := clean
		f(&v)
		return v
	}
	cases := []struct {
		name string
		edit func(ev, d map[string]any)
		want domain.ScanVerdict
	}{
		{"a missing s3Throttled is fine", func(_, d map[string]any) { delete(objectDetails(d), "s3Throttled") }, clean},
		{"an s3Throttled of another type is ignored", func(_, d map[string]any) { objectDetails(d)["s3Throttled"] = "yes" }, clean},
		{"unknown fields everywhere are ignored", func(ev, d map[string]any) {
			ev["new-envelope-field"] = map[string]any{"x": 1}
			d["newDetailField"] = []any{1, 2}
			objectDetails(d)["checksum"] = "abc"
			resultDetails(d)["engine"] = map[string]any{"v": "2"}
		}, clean},
		{"a missing resourceType is accepted", func(_, d map[string]any) { delete(d, "resourceType") }, clean},
		{"a missing versionId leaves it empty (an unversioned bucket)", func(_, d map[string]any) { delete(objectDetails(d), "versionId") },
			with(func(v *domain.ScanVerdict) { v.VersionID = "" })},
		{"a missing scanStatus is passed on empty, which is not clean", func(_, d map[string]any) { delete(d, "scanStatus") },
			with(func(v *domain.ScanVerdict) { v.ScanStatus = "" })},
		{"statusReasons as a list are kept", func(_, d map[string]any) { resultDetails(d)["statusReasons"] = []any{"PASSWORD_PROTECTED", 7, nil} },
			with(func(v *domain.ScanVerdict) { v.Reasons = []string{"PASSWORD_PROTECTED"} })},
		{"statusReasons as one string are kept", func(_, d map[string]any) { resultDetails(d)["statusReasons"] = "SSE_C_ENCRYPTED_OBJECT" },
			with(func(v *domain.ScanVerdict) { v.Reasons = []string{"SSE_C_ENCRYPTED_OBJECT"} })},
		{"statusReasons null are none", func(_, d map[string]any) { resultDetails(d)["statusReasons"] = nil }, clean},
		{"statusReasons of another shape are none", func(_, d map[string]any) { resultDetails(d)["statusReasons"] = map[string]any{"a": 1} }, clean},
		{"threats with extra fields keep their names", func(_, d map[string]any) {
			resultDetails(d)["scanResultStatus"] = domain.ScanThreatsFound
			resultDetails(d)["threats"] = []any{
				map[string]any{"name": "EICAR-Test-File (not a virus)", "source": "AMAZON"},
				map[string]any{"source": "AMAZON"}, nil, "Trojan.Bare-String",
			}
		}, with(func(v *domain.ScanVerdict) {
			v.Result = domain.ScanThreatsFound
			v.Threats = []string{"EICAR-Test-File (not a virus)", "Trojan.Bare-String"}
		})},
		{"an empty threat list is none", func(_, d map[string]any) { resultDetails(d)["threats"] = []any{} }, clean},
		{"an unknown result is passed on as it came", func(_, d map[string]any) { resultDetails(d)["scanResultStatus"] = "SOMETHING_NEW" },
			with(func(v *domain.ScanVerdict) { v.Result = "SOMETHING_NEW" })},
		{"an unparsable time does not matter", func(ev, _ map[string]any) { ev["time"] = "yesterday" }, clean},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := guardduty.Decode(variant(t, tc.edit))
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if d := cmp.Diff(got, tc.want, verdictOpts); d != "" {
				t.Errorf("Decode (-got +want):\n%s", d)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		raw      func(t *testing.T) []byte
		wantErr  error
		wantCode string
	}{
		{"another source is foreign", func(t *testing.T) []byte {
			return variant(t, func(ev, _ map[string]any) { ev["source"] = "aws.s3" })
		}, guardduty.ErrForeignEvent, guardduty.CodeForeignEvent},
		{"another GuardDuty detail-type is foreign", func(t *testing.T) []byte {
			return variant(t, func(ev, _ map[string]any) { ev["detail-type"] = "GuardDuty Malware Protection Post Scan Action Failed" })
		}, guardduty.ErrForeignEvent, guardduty.CodeForeignEvent},
		{"a scheduler tick is foreign", func(*testing.T) []byte {
			return []byte(`{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.scheduler","detail":{}}`)
		}, guardduty.ErrForeignEvent, guardduty.CodeForeignEvent},
		{"another resourceType is foreign", func(t *testing.T) []byte {
			return variant(t, func(_, d map[string]any) { d["resourceType"] = "EBS_VOLUME" })
		}, guardduty.ErrForeignEvent, guardduty.CodeForeignEvent},
		{"text that is not JSON is malformed", func(*testing.T) []byte { return []byte("not json") }, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"a JSON array is malformed", func(*testing.T) []byte { return []byte("[1,2]") }, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"a missing detail is malformed", func(t *testing.T) []byte {
			return variant(t, func(ev, _ map[string]any) { delete(ev, "detail") })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"a detail that is a string is malformed", func(t *testing.T) []byte {
			return variant(t, func(ev, _ map[string]any) { ev["detail"] = "{}" })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"a missing bucket is malformed", func(t *testing.T) []byte {
			return variant(t, func(_, d map[string]any) { delete(objectDetails(d), "bucketName") })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"a key of another type is malformed", func(t *testing.T) []byte {
			return variant(t, func(_, d map[string]any) { objectDetails(d)["objectKey"] = 42 })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"missing s3ObjectDetails are malformed", func(t *testing.T) []byte {
			return variant(t, func(_, d map[string]any) { delete(d, "s3ObjectDetails") })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"a missing result is malformed, not a failure", func(t *testing.T) []byte {
			return variant(t, func(_, d map[string]any) { delete(resultDetails(d), "scanResultStatus") })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
		{"missing scanResultDetails are malformed", func(t *testing.T) []byte {
			return variant(t, func(_, d map[string]any) { d["scanResultDetails"] = nil })
		}, guardduty.ErrMalformedEvent, guardduty.CodeMalformedEvent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := guardduty.Decode(tc.raw(t))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Decode: got error %v, want one wrapping %v", err, tc.wantErr)
			}
			if k := domain.KindOf(err); k != domain.KindInvalid {
				t.Errorf("kind: got %v, want %v", k, domain.KindInvalid)
			}
			if c := domain.CodeOf(err); c != tc.wantCode {
				t.Errorf("code: got %q, want %q", c, tc.wantCode)
			}
			if d := cmp.Diff(got, domain.ScanVerdict{}, verdictOpts); d != "" {
				t.Errorf("verdict with an error is not zero (-got +want):\n%s", d)
			}
		})
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	t.Parallel()
	cases := []domain.ScanVerdict{
		fixtureVerdict("COMPLETED", domain.ScanNoThreatsFound),
		fixtureVerdict("COMPLETED", domain.ScanThreatsFound, "EICAR-Test-File (not a virus)", "Other"),
		{Bucket: "b", Key: "quarantine/ü ñ?x", ETag: `"quoted"`, ScanStatus: "SKIPPED", Result: domain.ScanUnsupported, Reasons: []string{"PASSWORD_PROTECTED"}},
	}
	for _, v := range cases {
		t.Run(v.Result, func(t *testing.T) {
			t.Parallel()
			raw, err := guardduty.Encode(v, "72c7d362-737a-6dce-fc78-9e27a0171419", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !strings.Contains(string(raw), `"detail-type":"`+guardduty.DetailType+`"`) {
				t.Errorf("encoded event lacks the detail-type: %s", raw)
			}
			got, err := guardduty.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if d := cmp.Diff(got, v, verdictOpts); d != "" {
				t.Errorf("Decode(Encode(v)) (-got +want):\n%s", d)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics, that what it accepts is a
// usable verdict that survives a round trip, and that what it refuses is
// refused with one of its two errors.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		f.Add(readFixture(f, filepath.Base(file)))
	}
	f.Add([]byte(`{"source":"aws.guardduty","detail-type":"` + guardduty.DetailType + `","detail":{"s3ObjectDetails":{"bucketName":"b","objectKey":"k"},"scanResultDetails":{"scanResultStatus":"X","threats":"t","statusReasons":[null,{"name":"n"}]}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := guardduty.Decode(raw)
		if err != nil {
			if !errors.Is(err, guardduty.ErrForeignEvent) && !errors.Is(err, guardduty.ErrMalformedEvent) {
				t.Fatalf("Decode: got error %v, want ErrForeignEvent or ErrMalformedEvent", err)
			}
			if k := domain.KindOf(err); k != domain.KindInvalid {
				t.Fatalf("kind: got %v, want %v", k, domain.KindInvalid)
			}
			return
		}
		if v.Bucket == "" || v.Key == "" || v.Result == "" {
			t.Fatalf("accepted a verdict without bucket, key or result: %+v", v)
		}
		for _, names := range [][]string{v.Threats, v.Reasons} {
			if len(names) > 100 {
				t.Fatalf("kept %d names, want at most 100", len(names))
			}
			for _, n := range names {
				if n == "" {
					t.Fatalf("kept an empty name: %+v", v)
				}
			}
		}
		again, err := guardduty.Encode(v, "id", time.Unix(0, 0))
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		back, err := guardduty.Decode(again)
		if err != nil {
			t.Fatalf("Decode(Encode(v)): got error %v, want nil", err)
		}
		if d := cmp.Diff(back, v, verdictOpts); d != "" {
			t.Fatalf("Decode(Encode(v)) (-got +want):\n%s", d)
		}
	})
}
