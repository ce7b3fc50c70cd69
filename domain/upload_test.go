package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testBucket = "gatehouse-quarantine"
	testKey    = "quarantine/01jupload"
	testSize   = 1234
)

var (
	t0    = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	grace = DefaultUploadPendingGrace
	// Two versions of the upload's key: the client may PUT more than once.
	objV1 = ObjectInfo{Bucket: testBucket, Key: testKey, VersionID: "v1", ETag: `"etag1"`, ContentType: "image/png", SizeBytes: testSize}
	objV2 = ObjectInfo{Bucket: testBucket, Key: testKey, VersionID: "v2", ETag: `"etag2"`, ContentType: "image/png", SizeBytes: testSize}
)

// verdictFor is a verdict about obj as GuardDuty would send it (bare ETag).
func verdictFor(obj ObjectInfo, result string) ScanVerdict {
	status := ScanStatusCompleted
	switch result {
	case ScanUnsupported, ScanAccessDenied:
		status = "SKIPPED"
	case ScanFailed:
		status = "FAILED"
	}
	v := ScanVerdict{Bucket: obj.Bucket, Key: obj.Key, VersionID: obj.VersionID, ETag: NormalizeETag(obj.ETag), ScanStatus: status, Result: result}
	if result == ScanThreatsFound {
		v.Threats = []string{"EICAR-Test-File (not a virus)"}
	}
	return v
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func newTestUpload(t fataler) Upload {
	t.Helper()
	u, err := NewUpload(NewUploadParams{
		ID: "up1", OwnerID: "u1", Bucket: testBucket, Key: testKey,
		Filename: "cat.png", ContentType: "image/png", SizeBytes: testSize,
	}, DefaultUploadPolicy(), t0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func must(t fataler, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The states of the table, each reached through the public API.
var uploadStates = []struct {
	name  string
	build func(t testing.TB) Upload
}{
	{"pending", func(t testing.TB) Upload { return newTestUpload(t) }},
	{"pending with early clean verdict", func(t testing.TB) Upload {
		u := newTestUpload(t)
		if d := u.DecideVerdict(verdictFor(objV1, ScanNoThreatsFound), t0.Add(time.Second)); d.Action != ActionSave {
			t.Fatalf("setup: got %v", d)
		}
		return u
	}},
	{"scanning", func(t testing.TB) Upload {
		u := newTestUpload(t)
		_, err := u.Complete(objV1, t0.Add(time.Minute))
		must(t, err)
		return u
	}},
	{"accepted", func(t testing.TB) Upload {
		u := newTestUpload(t)
		_, err := u.Complete(objV1, t0.Add(time.Minute))
		must(t, err)
		if d := u.DecideVerdict(verdictFor(objV1, ScanNoThreatsFound), t0.Add(2*time.Minute)); d.Action != ActionPromote {
			t.Fatalf("setup: got %v", d)
		}
		must(t, u.MarkAccepted(t0.Add(2*time.Minute)))
		return u
	}},
	{"rejected", func(t testing.TB) Upload {
		u := newTestUpload(t)
		_, err := u.Complete(objV1, t0.Add(time.Minute))
		must(t, err)
		if d := u.DecideVerdict(verdictFor(objV1, ScanThreatsFound), t0.Add(2*time.Minute)); d.Action != ActionReject {
			t.Fatalf("setup: got %v", d)
		}
		return u
	}},
	{"failed", func(t testing.TB) Upload {
		u := newTestUpload(t)
		_, err := u.Complete(objV1, t0.Add(time.Minute))
		must(t, err)
		if d := u.DecideVerdict(verdictFor(objV1, ScanFailed), t0.Add(2*time.Minute)); d.Action != ActionFail {
			t.Fatalf("setup: got %v", d)
		}
		return u
	}},
	{"expired", func(t testing.TB) Upload {
		u := newTestUpload(t)
		must(t, u.Expire(t0.Add(grace), grace))
		return u
	}},
	{"deleted", func(t testing.TB) Upload {
		u := newTestUpload(t)
		_, err := u.Complete(objV1, t0.Add(time.Minute))
		must(t, err)
		u.MarkDeleted(t0.Add(2 * time.Minute))
		return u
	}},
}

// result is what one input did: the decision (for inputs that return one)
// and the error code (for inputs that can fail).
type result struct {
	decision Decision
	err      error
}

var later = t0.Add(10 * time.Minute)

func verdictInput(obj ObjectInfo, r string) func(*Upload) result {
	return func(u *Upload) result { return result{decision: u.DecideVerdict(verdictFor(obj, r), later)} }
}

// The inputs of the table.
var uploadInputs = []struct {
	name  string
	apply func(u *Upload) result
}{
	{"complete v1", func(u *Upload) result { d, err := u.Complete(objV1, later); return result{d, err} }},
	{"complete v2", func(u *Upload) result { d, err := u.Complete(objV2, later); return result{d, err} }},
	{"complete wrong size", func(u *Upload) result {
		o := objV1
		o.SizeBytes++
		d, err := u.Complete(o, later)
		return result{d, err}
	}},
	{"complete wrong type", func(u *Upload) result {
		o := objV1
		o.ContentType = "text/html"
		d, err := u.Complete(o, later)
		return result{d, err}
	}},
	{"clean v1", verdictInput(objV1, ScanNoThreatsFound)},
	{"threats v1", verdictInput(objV1, ScanThreatsFound)},
	{"unsupported v1", verdictInput(objV1, ScanUnsupported)},
	{"access denied v1", verdictInput(objV1, ScanAccessDenied)},
	{"failed v1", verdictInput(objV1, ScanFailed)},
	{"unknown result v1", verdictInput(objV1, "SOMETHING_NEW")},
	{"clean but skipped v1", func(u *Upload) result {
		v := verdictFor(objV1, ScanNoThreatsFound)
		v.ScanStatus = "SKIPPED"
		return result{decision: u.DecideVerdict(v, later)}
	}},
	{"clean v2", verdictInput(objV2, ScanNoThreatsFound)},
	{"threats v2", verdictInput(objV2, ScanThreatsFound)},
	{"clean v1 without version", func(u *Upload) result {
		v := verdictFor(objV1, ScanNoThreatsFound)
		v.VersionID = ""
		return result{decision: u.DecideVerdict(v, later)}
	}},
	{"clean other key", func(u *Upload) result {
		v := verdictFor(objV1, ScanNoThreatsFound)
		v.Key = "quarantine/other"
		return result{decision: u.DecideVerdict(v, later)}
	}},
	{"threats other bucket", func(u *Upload) result {
		v := verdictFor(objV1, ScanThreatsFound)
		v.Bucket = "elsewhere"
		return result{decision: u.DecideVerdict(v, later)}
	}},
	{"expire when due", func(u *Upload) result { return result{err: u.Expire(t0.Add(grace), grace)} }},
	{"expire 1s early", func(u *Upload) result { return result{err: u.Expire(t0.Add(grace-time.Second), grace)} }},
	{"delete", func(u *Upload) result { u.MarkDeleted(later); return result{} }},
	{"mark accepted", func(u *Upload) result { return result{err: u.MarkAccepted(later)} }},
	{"mark rejected (content mismatch)", func(u *Upload) result {
		return result{err: u.MarkRejected(later, CodeContentTypeMismatch, "The file's content does not match its type.", nil)}
	}},
	{"mark failed (object mismatch)", func(u *Upload) result {
		return result{err: u.MarkFailed(later, CodeObjectMismatch, "The file changed after it was scanned.")}
	}},
}

// want is the expected outcome: the status afterwards, the action and
// ignore reason, and the error code ("" for no error).
type want struct {
	status UploadStatus
	action Action
	why    IgnoreReason
	code   string
}

func ok(s UploadStatus) want                    { return want{status: s} }
func act(s UploadStatus, a Action) want         { return want{status: s, action: a} }
func ign(s UploadStatus, why IgnoreReason) want { return want{status: s, why: why} }
func fails(s UploadStatus, code string) want    { return want{status: s, code: code} }
func pendingTable(early bool) map[string]want {
	w := map[string]want{
		"complete v1":                      act(UploadScanning, ActionSave),
		"complete v2":                      act(UploadScanning, ActionSave),
		"complete wrong size":              fails(UploadPending, CodeUploadMismatch),
		"complete wrong type":              fails(UploadPending, CodeUploadMismatch),
		"clean v1":                         act(UploadPending, ActionSave),
		"threats v1":                       act(UploadRejected, ActionReject),
		"unsupported v1":                   act(UploadFailed, ActionFail),
		"access denied v1":                 act(UploadFailed, ActionFail),
		"failed v1":                        act(UploadFailed, ActionFail),
		"unknown result v1":                act(UploadFailed, ActionFail),
		"clean but skipped v1":             act(UploadFailed, ActionFail),
		"clean v2":                         act(UploadPending, ActionSave),
		"threats v2":                       act(UploadRejected, ActionReject),
		"clean v1 without version":         act(UploadPending, ActionSave),
		"clean other key":                  ign(UploadPending, IgnoreUnknownObject),
		"threats other bucket":             ign(UploadPending, IgnoreUnknownObject),
		"expire when due":                  ok(UploadExpired),
		"expire 1s early":                  fails(UploadPending, CodeUploadNotDue),
		"delete":                           ok(UploadDeleted),
		"mark accepted":                    fails(UploadPending, CodeUploadStateConflict),
		"mark rejected (content mismatch)": ok(UploadRejected),
		"mark failed (object mismatch)":    ok(UploadFailed),
	}
	if early {
		w["complete v1"] = act(UploadScanning, ActionPromote)
		w["clean v1"] = ign(UploadPending, IgnoreDuplicate)
	}
	return w
}

// settledTable is the table of a terminal status: every verdict ignored,
// every transition refused, delete allowed.
func settledTable(s UploadStatus) map[string]want {
	w := map[string]want{
		"complete v1":                      fails(s, CodeUploadNotPending),
		"complete v2":                      fails(s, CodeUploadNotPending),
		"complete wrong size":              fails(s, CodeUploadNotPending),
		"complete wrong type":              fails(s, CodeUploadNotPending),
		"expire when due":                  fails(s, CodeUploadStateConflict),
		"expire 1s early":                  fails(s, CodeUploadStateConflict),
		"delete":                           ok(UploadDeleted),
		"mark accepted":                    fails(s, CodeUploadStateConflict),
		"mark rejected (content mismatch)": fails(s, CodeUploadStateConflict),
		"mark failed (object mismatch)":    fails(s, CodeUploadStateConflict),
		"clean other key":                  ign(s, IgnoreUnknownObject),
		"threats other bucket":             ign(s, IgnoreUnknownObject),
	}
	for _, in := range []string{"clean v1", "threats v1", "unsupported v1", "access denied v1", "failed v1", "unknown result v1",
		"clean but skipped v1", "clean v2", "threats v2", "clean v1 without version"} {
		w[in] = ign(s, IgnoreTerminal)
	}
	return w
}

func uploadTable() map[string]map[string]want {
	scanning := map[string]want{
		"complete v1":                      ign(UploadScanning, IgnoreDuplicate),
		"complete v2":                      fails(UploadScanning, CodeUploadNotPending),
		"complete wrong size":              fails(UploadScanning, CodeUploadNotPending),
		"complete wrong type":              fails(UploadScanning, CodeUploadNotPending),
		"clean v1":                         act(UploadScanning, ActionPromote),
		"threats v1":                       act(UploadRejected, ActionReject),
		"unsupported v1":                   act(UploadFailed, ActionFail),
		"access denied v1":                 act(UploadFailed, ActionFail),
		"failed v1":                        act(UploadFailed, ActionFail),
		"unknown result v1":                act(UploadFailed, ActionFail),
		"clean but skipped v1":             act(UploadFailed, ActionFail),
		"clean v2":                         ign(UploadScanning, IgnoreOtherVersion),
		"threats v2":                       ign(UploadScanning, IgnoreOtherVersion),
		"clean v1 without version":         ign(UploadScanning, IgnoreOtherVersion),
		"clean other key":                  ign(UploadScanning, IgnoreUnknownObject),
		"threats other bucket":             ign(UploadScanning, IgnoreUnknownObject),
		"expire when due":                  fails(UploadScanning, CodeUploadStateConflict),
		"expire 1s early":                  fails(UploadScanning, CodeUploadStateConflict),
		"delete":                           ok(UploadDeleted),
		"mark accepted":                    fails(UploadScanning, CodeUploadStateConflict), // no clean verdict yet
		"mark rejected (content mismatch)": ok(UploadRejected),
		"mark failed (object mismatch)":    ok(UploadFailed),
	}
	accepted := settledTable(UploadAccepted)
	accepted["clean v1"] = ign(UploadAccepted, IgnoreDuplicate)
	accepted["threats v1"] = act(UploadRejected, ActionReject) // malware found later wins
	rejected := settledTable(UploadRejected)
	rejected["threats v1"] = ign(UploadRejected, IgnoreDuplicate)
	failed := settledTable(UploadFailed)
	failed["failed v1"] = ign(UploadFailed, IgnoreDuplicate)
	deleted := settledTable(UploadDeleted)
	return map[string]map[string]want{
		"pending":                          pendingTable(false),
		"pending with early clean verdict": pendingTable(true),
		"scanning":                         scanning,
		"accepted":                         accepted,
		"rejected":                         rejected,
		"failed":                           failed,
		"expired":                          settledTable(UploadExpired),
		"deleted":                          deleted,
	}
}

// TestUploadStateMachine runs every input against every state.
func TestUploadStateMachine(t *testing.T) {
	t.Parallel()
	table := uploadTable()
	for _, st := range uploadStates {
		for _, in := range uploadInputs {
			w, found := table[st.name][in.name]
			if !found {
				t.Errorf("no expectation for %s × %s: the table must be exhaustive", st.name, in.name)
				continue
			}
			t.Run(st.name+"/"+in.name, func(t *testing.T) {
				t.Parallel()
				u := st.build(t)
				before := u
				r := in.apply(&u)
				if got := CodeOf(r.err); got != w.code {
					t.Fatalf("error: got %q (%v), want %q", got, r.err, w.code)
				}
				if r.err != nil && KindOf(r.err) == KindInternal {
					t.Fatalf("got an internal error %v for a client or state error", r.err)
				}
				if u.Status != w.status {
					t.Errorf("status: got %v, want %v", u.Status, w.status)
				}
				if r.decision.Action != w.action || r.decision.Why != w.why {
					t.Errorf("decision: got %v/%q, want %v/%q", r.decision.Action, r.decision.Why, w.action, w.why)
				}
				if (u.DownloadAllowed() == nil) != (u.Status == UploadAccepted) {
					t.Errorf("DownloadAllowed is %v in status %v", u.DownloadAllowed(), u.Status)
				}
				if w.code != "" || r.decision.Action == ActionIgnore && w.status == before.Status && in.name != "delete" {
					if diff := cmp.Diff(before, u, cmp.AllowUnexported(Email{})); diff != "" {
						t.Errorf("an ignored or refused input changed the upload (-before +after):\n%s", diff)
					}
				}
			})
		}
	}
	for st := range table {
		for in := range table[st] {
			if !hasInput(in) {
				t.Errorf("expectation for unknown input %q in %s", in, st)
			}
		}
	}
}

func hasInput(name string) bool {
	for _, in := range uploadInputs {
		if in.name == name {
			return true
		}
	}
	return false
}

// Applying the same verdict twice in a row gives, the second time, nothing
// new: the same promote (promotion is idempotent) or an ignore.
func TestUploadVerdictRedelivery(t *testing.T) {
	t.Parallel()
	for _, st := range uploadStates {
		for _, in := range uploadInputs {
			if !strings.Contains(in.name, " v") && !strings.Contains(in.name, "other") {
				continue
			}
			t.Run(st.name+"/"+in.name, func(t *testing.T) {
				t.Parallel()
				u := st.build(t)
				first := in.apply(&u)
				if first.err != nil {
					return
				}
				after := u
				second := in.apply(&u)
				if second.err != nil && CodeOf(second.err) != CodeOf(first.err) {
					t.Fatalf("second: got error %v", second.err)
				}
				if u.Status != after.Status {
					t.Fatalf("second delivery moved status %v -> %v", after.Status, u.Status)
				}
				switch second.decision.Action {
				case ActionIgnore:
				case ActionPromote:
					if first.decision.Action != ActionPromote && !strings.HasPrefix(in.name, "complete") {
						t.Fatalf("second delivery promoted after %v", first.decision.Action)
					}
				default:
					t.Fatalf("second delivery: got %v, want ignore or the same promote", second.decision.Action)
				}
			})
		}
	}
}

func TestUploadVerdictBeforeCompleteThenComplete(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	if d := u.DecideVerdict(verdictFor(objV2, ScanNoThreatsFound), t0.Add(time.Second)); d.Action != ActionSave {
		t.Fatalf("early verdict: got %v, want save", d.Action)
	}
	// The client completes with v1, not the version the early verdict was about.
	d, err := u.Complete(objV1, t0.Add(2*time.Second))
	if err != nil || d.Action != ActionSave || u.Verdict != nil {
		t.Fatalf("complete: got %v, %v, verdict %v; want save and the stale verdict dropped", d, err, u.Verdict)
	}
	if err := u.MarkAccepted(t0.Add(3 * time.Second)); CodeOf(err) != CodeUploadStateConflict {
		t.Fatalf("MarkAccepted on another version's verdict: got %v, want conflict", err)
	}
	if d := u.DecideVerdict(verdictFor(objV1, ScanNoThreatsFound), t0.Add(4*time.Second)); d.Action != ActionPromote || d.Verdict.VersionID != "v1" {
		t.Fatalf("verdict for v1: got %+v, want promote v1", d)
	}
	must(t, u.MarkAccepted(t0.Add(5*time.Second)))
	want := &ScanResult{Result: ScanNoThreatsFound, CompletedAt: t0.Add(5 * time.Second)}
	if diff := cmp.Diff(want, u.Scan); diff != "" {
		t.Errorf("scan (-want +got):\n%s", diff)
	}
}

func TestUploadEarlyVerdictPromotesAtComplete(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	v := verdictFor(objV1, ScanNoThreatsFound)
	u.DecideVerdict(v, t0.Add(time.Second))
	d, err := u.Complete(objV1, t0.Add(2*time.Second))
	if err != nil || d.Action != ActionPromote {
		t.Fatalf("got %v, %v; want promote", d, err)
	}
	if diff := cmp.Diff(v, d.Verdict); diff != "" {
		t.Errorf("decision verdict (-want +got):\n%s", diff)
	}
	must(t, u.MarkAccepted(t0.Add(3*time.Second)))
	if u.Status != UploadAccepted || u.ETag != "etag1" || u.VersionID != "v1" || u.CompletedAt == nil {
		t.Errorf("got %v %q %q %v, want accepted v1 etag1 with CompletedAt", u.Status, u.VersionID, u.ETag, u.CompletedAt)
	}
}

func TestUploadRejectedScanResult(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	_, err := u.Complete(objV1, t0)
	must(t, err)
	v := verdictFor(objV1, ScanThreatsFound)
	v.Threats = []string{"EICAR-Test-File (not a virus)", "", "bad\r\nname\u202E", strings.Repeat("x", 500)}
	d := u.DecideVerdict(v, t0.Add(time.Minute))
	if d.Action != ActionReject {
		t.Fatalf("got %v, want reject", d.Action)
	}
	want := &ScanResult{
		Result:      ScanThreatsFound,
		Threats:     []string{"EICAR-Test-File (not a virus)", "badname", strings.Repeat("x", 200)},
		Code:        CodeThreatsFound,
		Reason:      "Malware was found in the file.",
		CompletedAt: t0.Add(time.Minute),
	}
	if diff := cmp.Diff(want, u.Scan); diff != "" {
		t.Errorf("scan (-want +got):\n%s", diff)
	}
}

func TestUploadFailedScanResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		result, status string
		reasons        []string
		wantResult     string
		wantCode       string
		wantReason     string
	}{
		{ScanUnsupported, "SKIPPED", []string{"PASSWORD_PROTECTED", "<script>"}, ScanUnsupported, CodeScanUnsupported,
			"The file could not be scanned (for example it is password-protected, too large or too highly compressed). (PASSWORD_PROTECTED)"},
		{ScanAccessDenied, "SKIPPED", nil, ScanAccessDenied, CodeScanAccessDenied, "The malware scanner could not read the file."},
		{ScanFailed, "FAILED", nil, ScanFailed, CodeScanFailed, "The malware scan failed."},
		{ScanNoThreatsFound, "SKIPPED", nil, ScanFailed, CodeScanFailed, "The malware scan did not complete."},
		{"no_threats_found", "COMPLETED", nil, ScanFailed, CodeScanFailed, "The malware scanner returned an unknown result."},
	}
	for _, tt := range tests {
		t.Run(tt.result+"/"+tt.status, func(t *testing.T) {
			t.Parallel()
			u := newTestUpload(t)
			_, err := u.Complete(objV1, t0)
			must(t, err)
			v := verdictFor(objV1, tt.result)
			v.ScanStatus, v.Reasons = tt.status, tt.reasons
			if d := u.DecideVerdict(v, t0.Add(time.Minute)); d.Action != ActionFail {
				t.Fatalf("got %v, want fail", d.Action)
			}
			want := &ScanResult{Result: tt.wantResult, Code: tt.wantCode, Reason: tt.wantReason, CompletedAt: t0.Add(time.Minute)}
			if diff := cmp.Diff(want, u.Scan); diff != "" {
				t.Errorf("scan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUploadContentMismatchAfterCleanScan(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	_, err := u.Complete(objV1, t0)
	must(t, err)
	if d := u.DecideVerdict(verdictFor(objV1, ScanNoThreatsFound), t0.Add(time.Minute)); d.Action != ActionPromote {
		t.Fatalf("got %v, want promote", d.Action)
	}
	must(t, u.MarkRejected(t0.Add(time.Minute), CodeContentTypeMismatch, "The file's content does not match its declared type.", nil))
	want := &ScanResult{Result: ScanNoThreatsFound, Code: CodeContentTypeMismatch, Reason: "The file's content does not match its declared type.", CompletedAt: t0.Add(time.Minute)}
	if diff := cmp.Diff(want, u.Scan); diff != "" {
		t.Errorf("scan (-want +got):\n%s", diff)
	}
	if err := u.DownloadAllowed(); CodeOf(err) != CodeUploadNotAccepted || KindOf(err) != KindConflict {
		t.Errorf("DownloadAllowed: got %v, want conflict %s", err, CodeUploadNotAccepted)
	}
	// The redelivered clean verdict cannot bring it back.
	if d := u.DecideVerdict(verdictFor(objV1, ScanNoThreatsFound), t0.Add(2*time.Minute)); d.Action != ActionIgnore || u.Status != UploadRejected {
		t.Errorf("redelivery: got %v and %v, want ignore and rejected", d.Action, u.Status)
	}
}

func TestUploadETagAndVersionMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		recorded   ObjectInfo
		version    string
		etag       string
		wantAction Action
	}{
		{"quoted and bare etag match", objV1, "v1", "etag1", ActionPromote},
		{"both quoted", objV1, "v1", `"etag1"`, ActionPromote},
		{"other etag, same version", objV1, "v1", "etagX", ActionIgnore},
		{"same etag, other version", objV1, "v9", "etag1", ActionIgnore},
		{"missing etag", objV1, "v1", "", ActionIgnore},
		{"unversioned object matches empty version", ObjectInfo{Bucket: testBucket, Key: testKey, ETag: `"e"`, ContentType: "image/png", SizeBytes: testSize}, "", "e", ActionPromote},
		{"unversioned object matches null version", ObjectInfo{Bucket: testBucket, Key: testKey, ETag: `"e"`, ContentType: "image/png", SizeBytes: testSize}, "null", "e", ActionPromote},
		{"unversioned object, versioned verdict", ObjectInfo{Bucket: testBucket, Key: testKey, ETag: `"e"`, ContentType: "image/png", SizeBytes: testSize}, "v1", "e", ActionIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newTestUpload(t)
			_, err := u.Complete(tt.recorded, t0)
			must(t, err)
			v := ScanVerdict{Bucket: testBucket, Key: testKey, VersionID: tt.version, ETag: tt.etag, ScanStatus: ScanStatusCompleted, Result: ScanNoThreatsFound}
			if d := u.DecideVerdict(v, t0); d.Action != tt.wantAction {
				t.Fatalf("got %v (%s), want %v", d.Action, d.Why, tt.wantAction)
			}
		})
	}
}

func TestUploadCompleteWithoutETag(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	o := objV1
	o.ETag = `""`
	if _, err := u.Complete(o, t0); KindOf(err) != KindInternal || u.Status != UploadPending {
		t.Fatalf("got %v in %v, want KindInternal and still pending", err, u.Status)
	}
}

func TestUploadCompleteNormalisesContentType(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	o := objV1
	o.ContentType = "Image/PNG"
	if d, err := u.Complete(o, t0); err != nil || d.Action != ActionSave {
		t.Fatalf("got %v, %v; want save", d, err)
	}
}

func TestNewUpload(t *testing.T) {
	t.Parallel()
	base := NewUploadParams{ID: "up1", OwnerID: "u1", Bucket: testBucket, Key: testKey, Filename: "../cat.PNG", ContentType: "Image/PNG", SizeBytes: 10,
		SHA256: strings.ToUpper(strings.Repeat("ab", 32))}
	u, err := NewUpload(base, DefaultUploadPolicy(), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := Upload{ID: "up1", OwnerID: "u1", Filename: "cat.PNG", ContentType: "image/png", SizeBytes: 10, SHA256: strings.Repeat("ab", 32),
		Bucket: testBucket, Key: testKey, Status: UploadPending, CreatedAt: t0, UpdatedAt: t0}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("upload (-want +got):\n%s", diff)
	}

	tests := []struct {
		name   string
		edit   func(p *NewUploadParams)
		code   string
		fields []string
	}{
		{"max size", func(p *NewUploadParams) { p.SizeBytes = DefaultUploadMaxSizeBytes }, "", nil},
		{"no extension", func(p *NewUploadParams) { p.Filename = "cat" }, "", nil},
		{"no filename", func(p *NewUploadParams) { p.Filename = "" }, "", nil},
		{"no checksum", func(p *NewUploadParams) { p.SHA256 = "" }, "", nil},
		{"jpeg alias and extension", func(p *NewUploadParams) { p.ContentType, p.Filename = "image/jpg", "a.JPEG" }, "", nil},
		{"one byte over max", func(p *NewUploadParams) { p.SizeBytes = DefaultUploadMaxSizeBytes + 1 }, CodeFileTooLarge, []string{"body.size_bytes"}},
		{"zero size", func(p *NewUploadParams) { p.SizeBytes = 0 }, CodeInvalidUpload, []string{"body.size_bytes"}},
		{"negative size", func(p *NewUploadParams) { p.SizeBytes = -1 }, CodeInvalidUpload, []string{"body.size_bytes"}},
		{"html", func(p *NewUploadParams) { p.ContentType, p.Filename = "text/html", "a.html" }, CodeContentTypeNotAllowed, []string{"body.content_type"}},
		{"svg", func(p *NewUploadParams) { p.ContentType, p.Filename = "image/svg+xml", "a.svg" }, CodeContentTypeNotAllowed, []string{"body.content_type"}},
		{"zip is off the default list", func(p *NewUploadParams) { p.ContentType, p.Filename = "application/zip", "a.zip" }, CodeContentTypeNotAllowed, []string{"body.content_type"}},
		{"malformed type", func(p *NewUploadParams) { p.ContentType = "png" }, CodeContentTypeNotAllowed, []string{"body.content_type"}},
		{"double extension", func(p *NewUploadParams) { p.Filename = "x.png.exe" }, CodeFilenameTypeMismatch, []string{"body.filename"}},
		{"php with nul", func(p *NewUploadParams) { p.Filename = "x.php\x00" }, CodeFilenameTypeMismatch, []string{"body.filename"}},
		{"short checksum", func(p *NewUploadParams) { p.SHA256 = "abcd" }, CodeInvalidUpload, []string{"body.sha256"}},
		{"non-hex checksum", func(p *NewUploadParams) { p.SHA256 = strings.Repeat("zz", 32) }, CodeInvalidUpload, []string{"body.sha256"}},
		{"every problem at once", func(p *NewUploadParams) { p.ContentType, p.SizeBytes, p.SHA256 = "text/html", 0, "x" },
			CodeContentTypeNotAllowed, []string{"body.content_type", "body.size_bytes", "body.sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := base
			tt.edit(&p)
			u, err := NewUpload(p, DefaultUploadPolicy(), t0)
			if tt.code == "" {
				if err != nil || u.Status != UploadPending {
					t.Fatalf("got %v, %v; want a pending upload", u.Status, err)
				}
				return
			}
			if KindOf(err) != KindInvalid || CodeOf(err) != tt.code {
				t.Fatalf("got %v, want invalid %s", err, tt.code)
			}
			var locs []string
			for _, f := range FieldsOf(err) {
				locs = append(locs, f.Location)
			}
			if diff := cmp.Diff(tt.fields, locs); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewUploadServerErrors(t *testing.T) {
	t.Parallel()
	p := NewUploadParams{ID: "up1", OwnerID: "u1", Bucket: testBucket, Key: "", Filename: "a.png", ContentType: "image/png", SizeBytes: 1}
	if _, err := NewUpload(p, DefaultUploadPolicy(), t0); KindOf(err) != KindInternal {
		t.Errorf("missing key: got %v, want internal", err)
	}
	p.Key = testKey
	if _, err := NewUpload(p, UploadPolicy{MaxSizeBytes: 1, AllowedContentTypes: []string{"image/svg+xml"}}, t0); KindOf(err) != KindInternal {
		t.Errorf("uncheckable type allowed: got %v, want internal", err)
	}
}

func TestUploadPolicyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    UploadPolicy
		ok   bool
	}{
		{"default", DefaultUploadPolicy(), true},
		{"every checkable type", UploadPolicy{MaxSizeBytes: 1, AllowedContentTypes: SniffableContentTypes()}, true},
		{"zero size", UploadPolicy{AllowedContentTypes: []string{"image/png"}}, false},
		{"no types", UploadPolicy{MaxSizeBytes: 1}, false},
		{"uncheckable type", UploadPolicy{MaxSizeBytes: 1, AllowedContentTypes: []string{"application/json"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestUploadStatusHelpers(t *testing.T) {
	t.Parallel()
	for _, s := range []UploadStatus{UploadPending, UploadScanning, UploadAccepted, UploadRejected, UploadFailed, UploadExpired, UploadDeleted, "bogus"} {
		wantValid := s != "bogus"
		wantTerminal := s != UploadPending && s != UploadScanning
		if s.Valid() != wantValid || s.Terminal() != wantTerminal {
			t.Errorf("%s: got valid=%v terminal=%v, want %v %v", s, s.Valid(), s.Terminal(), wantValid, wantTerminal)
		}
	}
	for a, want := range map[Action]string{ActionIgnore: "ignore", ActionSave: "save", ActionPromote: "promote", ActionReject: "reject", ActionFail: "fail"} {
		if a.String() != want {
			t.Errorf("got %q, want %q", a.String(), want)
		}
	}
}

func TestUploadUnknownStatusFailsClosed(t *testing.T) {
	t.Parallel()
	u := newTestUpload(t)
	_, err := u.Complete(objV1, t0)
	must(t, err)
	u.Status = "corrupt"
	if d := u.DecideVerdict(verdictFor(objV1, ScanNoThreatsFound), t0); d.Action != ActionIgnore {
		t.Errorf("got %v, want ignore", d.Action)
	}
	if err := u.MarkAccepted(t0); err == nil || u.DownloadAllowed() == nil {
		t.Errorf("an upload in an unknown status was accepted or downloadable")
	}
}
