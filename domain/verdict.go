package domain

import (
	"strings"
	"time"
)

// Scan result statuses as GuardDuty Malware Protection for S3 reports them
// (the scanResultStatus of its event and the value of its object tag).
const (
	ScanNoThreatsFound = "NO_THREATS_FOUND"
	ScanThreatsFound   = "THREATS_FOUND"
	ScanUnsupported    = "UNSUPPORTED"
	ScanAccessDenied   = "ACCESS_DENIED"
	ScanFailed         = "FAILED"
)

// ScanStatusCompleted is the scanStatus of a scan that ran to the end. A
// NO_THREATS_FOUND result counts as clean only together with it.
const ScanStatusCompleted = "COMPLETED"

// Codes recorded in ScanResult.Code, saying why an upload was not accepted.
// They are stable snake_case values for clients, like error codes.
const (
	CodeThreatsFound        = "threats_found"
	CodeScanUnsupported     = "scan_unsupported"
	CodeScanAccessDenied    = "scan_access_denied"
	CodeScanFailed          = "scan_failed"
	CodeContentTypeMismatch = "content_type_mismatch"
	// CodeObjectMismatch: the stored object is not the one that was
	// recorded at complete and scanned (it changed or vanished).
	CodeObjectMismatch = "object_mismatch"
)

// Bounds on what a verdict may put in front of a user.
const (
	maxThreats       = 20
	maxThreatNameLen = 200
	maxReasons       = 5
	maxReasonLen     = 64
)

// ScanVerdict is a malware scanner's verdict on one stored object version, in
// the scanner-neutral form the core decides on. Adapters fill it from a
// GuardDuty event or object tag (or the dev scanner) without interpreting
// it: unknown values stay as they came and are treated as failures. Bucket,
// Key, VersionID (when the bucket is versioned) and ETag must all be filled:
// a verdict settles an upload only when all of them match the object
// recorded at complete.
type ScanVerdict struct {
	Bucket    string
	Key       string
	VersionID string
	ETag      string // quotes are ignored when comparing
	// ScanStatus is COMPLETED, SKIPPED or FAILED.
	ScanStatus string
	// Result is one of the Scan* result statuses; anything else is a failure.
	Result string
	// Threats names what was found, for THREATS_FOUND.
	Threats []string
	// Reasons are the scanner's status reasons (e.g. PASSWORD_PROTECTED).
	Reasons []string
}

// VerdictClass is what a verdict means for the upload. The zero value is
// VerdictNotClean, so a verdict nobody classified fails closed.
type VerdictClass uint8

// The classes of verdict.
const (
	VerdictNotClean VerdictClass = iota // unsupported, access denied, failed, unknown or inconsistent
	VerdictClean                        // NO_THREATS_FOUND with scan status COMPLETED, nothing else
	VerdictInfected                     // THREATS_FOUND, whatever the scan status
)

// String returns the class's name.
func (c VerdictClass) String() string {
	switch c {
	case VerdictClean:
		return "clean"
	case VerdictInfected:
		return "infected"
	}
	return "not_clean"
}

// Class classifies the verdict. Only NO_THREATS_FOUND with scan status
// COMPLETED is clean; THREATS_FOUND is infected whatever the scan status;
// everything else, including values this code has never heard of, is not
// clean. Comparisons are exact (GuardDuty's values are upper case).
func (v ScanVerdict) Class() VerdictClass {
	switch {
	case v.Result == ScanThreatsFound:
		return VerdictInfected
	case v.Result == ScanNoThreatsFound && v.ScanStatus == ScanStatusCompleted:
		return VerdictClean
	}
	return VerdictNotClean
}

// Clean reports whether the verdict is clean.
func (v ScanVerdict) Clean() bool { return v.Class() == VerdictClean }

// sameVerdict reports whether a and b say the same thing about the same
// object version: a redelivery.
func sameVerdict(a, b ScanVerdict) bool {
	return a.Bucket == b.Bucket && a.Key == b.Key &&
		normVersion(a.VersionID) == normVersion(b.VersionID) &&
		NormalizeETag(a.ETag) == NormalizeETag(b.ETag) &&
		a.Class() == b.Class() && a.Result == b.Result
}

// clone returns a copy of v whose slices are not shared with v.
func (v ScanVerdict) clone() *ScanVerdict {
	c := v
	c.Threats = append([]string(nil), v.Threats...)
	c.Reasons = append([]string(nil), v.Reasons...)
	return &c
}

// NormalizeETag strips the weak prefix and surrounding quotes of an entity
// tag: S3 returns ETags quoted, GuardDuty's events carry them bare.
func NormalizeETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

// normVersion maps S3's "null" version (an object written while versioning
// was off) to "".
func normVersion(s string) string {
	if s == "null" {
		return ""
	}
	return s
}

// ScanResult is what the user is shown about the scan of their upload.
type ScanResult struct {
	// Result is the scanner's result status (one of the Scan* values), or ""
	// when no scanner result applies (e.g. an upload that never completed).
	Result string
	// Threats names the malware found, bounded and cleaned for display.
	Threats []string
	// Code is "" for an accepted upload, otherwise why it was not accepted
	// (CodeThreatsFound, CodeScanUnsupported, CodeContentTypeMismatch...).
	Code string
	// Reason explains Code in a sentence fit to show the user.
	Reason      string
	CompletedAt time.Time
}

// resultFor builds the ScanResult of a verdict that ends an upload.
func resultFor(v ScanVerdict, now time.Time) *ScanResult {
	r := &ScanResult{CompletedAt: now}
	switch v.Class() {
	case VerdictClean:
		r.Result = ScanNoThreatsFound
	case VerdictInfected:
		r.Result = ScanThreatsFound
		r.Code = CodeThreatsFound
		r.Threats = cleanThreats(v.Threats)
		r.Reason = "Malware was found in the file."
	default:
		switch v.Result {
		case ScanUnsupported:
			r.Result, r.Code = ScanUnsupported, CodeScanUnsupported
			r.Reason = "The file could not be scanned (for example it is password-protected, too large or too highly compressed)."
		case ScanAccessDenied:
			r.Result, r.Code = ScanAccessDenied, CodeScanAccessDenied
			r.Reason = "The malware scanner could not read the file."
		case ScanFailed:
			r.Result, r.Code = ScanFailed, CodeScanFailed
			r.Reason = "The malware scan failed."
		case ScanNoThreatsFound:
			r.Result, r.Code = ScanFailed, CodeScanFailed
			r.Reason = "The malware scan did not complete."
		default:
			r.Result, r.Code = ScanFailed, CodeScanFailed
			r.Reason = "The malware scanner returned an unknown result."
		}
		if rs := cleanReasons(v.Reasons); len(rs) > 0 {
			r.Reason += " (" + strings.Join(rs, ", ") + ")"
		}
	}
	return r
}

// cleanThreats bounds and cleans threat names for display.
func cleanThreats(in []string) []string {
	var out []string
	for _, t := range in {
		if len(out) == maxThreats {
			break
		}
		if t = cleanDisplayText(t, maxThreatNameLen); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// cleanReasons keeps status reasons that look like scanner constants
// (A-Z, 0-9, _), bounded, and drops anything else.
func cleanReasons(in []string) []string {
	var out []string
	for _, r := range in {
		if len(out) == maxReasons {
			break
		}
		if r == "" || len(r) > maxReasonLen {
			continue
		}
		ok := true
		for i := 0; i < len(r); i++ {
			c := r[i]
			if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// Action is what the caller of an upload transition must do next. The zero
// value is ActionIgnore, so a decision nobody made changes nothing.
type Action uint8

// The actions a transition asks for.
const (
	// ActionIgnore: nothing changed and nothing is to be done; Decision.Why
	// says why, for the log.
	ActionIgnore Action = iota
	// ActionSave: the upload changed (it moved to scanning, or a clean
	// verdict that arrived early was remembered); save it, nothing else.
	ActionSave
	// ActionPromote: a clean verdict matches the recorded object. Check
	// the stored object is still that version (size, ETag) and that its
	// leading bytes match the declared type (SniffMatches), copy that
	// version to the accepted area, delete the quarantine copy, then call
	// MarkAccepted (or MarkRejected with CodeContentTypeMismatch, or
	// MarkFailed with CodeObjectMismatch) and save. The status is still
	// scanning until then, so a failure part-way leaves it retryable.
	ActionPromote
	// ActionReject: the upload is now rejected (malware). Save it, and
	// delete the object version in Decision.Verdict and the recorded one
	// (and the accepted copy if the upload had been accepted).
	ActionReject
	// ActionFail: the upload is now failed (not scannable). Save it and
	// delete the object version in Decision.Verdict and the recorded one.
	ActionFail
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case ActionSave:
		return "save"
	case ActionPromote:
		return "promote"
	case ActionReject:
		return "reject"
	case ActionFail:
		return "fail"
	}
	return "ignore"
}

// IgnoreReason says why an input was ignored.
type IgnoreReason string

// Why inputs are ignored.
const (
	// IgnoreDuplicate: the same input was already applied (at-least-once
	// delivery).
	IgnoreDuplicate IgnoreReason = "duplicate"
	// IgnoreTerminal: the upload is already settled (accepted, rejected,
	// failed, expired or deleted); a late verdict changes nothing (except
	// malware found in an accepted object, see DecideVerdict).
	IgnoreTerminal IgnoreReason = "terminal"
	// IgnoreOtherVersion: the verdict is about another version or ETag of
	// the key than the one recorded at complete (the object was replaced).
	IgnoreOtherVersion IgnoreReason = "other_version"
	// IgnoreUnknownObject: the verdict names another bucket or key.
	IgnoreUnknownObject IgnoreReason = "unknown_object"
)

// Decision is the outcome of a transition: the action the caller must take,
// why an input was ignored, and the verdict it was decided on.
type Decision struct {
	Action Action
	Why    IgnoreReason // set when Action is ActionIgnore
	// Verdict is the verdict the decision is about: for ActionPromote the
	// object version to copy; for ActionReject and ActionFail the version to
	// delete. Zero for decisions not made on a verdict.
	Verdict ScanVerdict
}

func ignore(why IgnoreReason) Decision { return Decision{Action: ActionIgnore, Why: why} }
