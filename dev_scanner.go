//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// eicar is the EICAR anti-malware test string, which every scanner reports
// as malware although it is harmless. It is kept encoded so that this
// program's source and binary do not look infected to a virus scanner.
var eicar = func() []byte {
	b, err := base64.StdEncoding.DecodeString("WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=")
	if err != nil {
		panic(err)
	}
	return b
}()

// eicarThreat is the threat name the dev scanner reports for the EICAR
// test string.
const eicarThreat = "EICAR-Test-File (not a virus)"

// devScanInterval is how often the dev scanner looks for uploads to scan.
const devScanInterval = 200 * time.Millisecond

// devScanMaxBackoff bounds the wait before the dev scanner tries again an
// upload whose scan or event failed.
const devScanMaxBackoff = 30 * time.Second

// devScanner stands in for GuardDuty Malware Protection for S3 in `gatehouse
// dev`. GuardDuty scans each object when it is written; the dev scanner
// scans each upload once it is completed (status scanning), which is when
// the verdict matters:
//
//   - it reads the recorded version of the object (its first
//     ports.MaxReadLeading bytes: dev files are small) and finds
//     THREATS_FOUND (eicarThreat) when the EICAR test string is in it,
//     NO_THREATS_FOUND otherwise;
//   - it tags that version with the result, as GuardDuty does (the
//     reconciler reads the tag when an event is lost);
//   - it builds the EventBridge event GuardDuty would send
//     (guardduty.Encode) and hands its bytes to deliver, which is the
//     Lambda function's handler, so the verdict takes exactly the path it
//     takes on AWS.
//
// An object that is gone (the local S3 keeps objects in memory, so after a
// restart every upload of an earlier run has lost its file) gets a FAILED
// result, as a scan that could not read its object would. A failed read,
// tag or delivery is tried again on a later pass, backing off, as
// EventBridge delivers again. Verdicts are idempotent (a second one about a
// settled upload changes nothing), so scanning twice is harmless; an
// upload whose event was delivered is not scanned again while it waits.
type devScanner struct {
	uploads  ports.UploadStore
	objects  ports.ObjectStore
	deliver  func(ctx context.Context, event []byte) ([]byte, error)
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	// seen is what the scanner did about each upload version still in
	// scanning at the last pass.
	seen map[string]devScanState
}

type devScanState struct {
	delivered bool      // the handler took the event
	failures  int       // scans or deliveries that failed in a row
	next      time.Time // no new attempt before then
}

func newDevScanner(uploads ports.UploadStore, objects ports.ObjectStore, deliver func(context.Context, []byte) ([]byte, error), log *slog.Logger) *devScanner {
	return &devScanner{
		uploads:  uploads,
		objects:  objects,
		deliver:  deliver,
		interval: devScanInterval,
		now:      time.Now,
		log:      log.With("component", "scanner"),
		seen:     map[string]devScanState{},
	}
}

// Run scans until ctx is done, then returns nil.
func (s *devScanner) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "local scanner started (standing in for GuardDuty: the EICAR test file is malware)", "interval", s.interval.String())
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pass scans the uploads waiting in scanning and reports how many verdict
// events the handler took.
func (s *devScanner) pass(ctx context.Context) int {
	now := s.now()
	waiting, err := s.uploads.StaleUploads(ctx, domain.UploadScanning, now, ports.MaxUploadPage)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "listing the uploads to scan failed; trying again", "error", err.Error())
		}
		return 0
	}
	seen := make(map[string]devScanState, len(waiting))
	delivered := 0
	for _, u := range waiting {
		if ctx.Err() != nil {
			break
		}
		id := u.ID + "/" + u.VersionID
		st := s.seen[id]
		if st.delivered || now.Before(st.next) {
			seen[id] = st
			continue
		}
		if err := s.scan(ctx, u); err != nil {
			st.failures++
			st.next = now.Add(min(s.interval<<min(st.failures, 16), devScanMaxBackoff))
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "scanning an upload failed; trying again", "upload_id", u.ID, "error", err.Error(), "retry_in", st.next.Sub(now).String())
			}
		} else {
			st = devScanState{delivered: true}
			delivered++
		}
		seen[id] = st
	}
	s.seen = seen
	return delivered
}

// scan scans u's recorded version, tags it and delivers the verdict event.
func (s *devScanner) scan(ctx context.Context, u domain.Upload) error {
	v := domain.ScanVerdict{Bucket: u.Bucket, Key: u.Key, VersionID: u.VersionID, ETag: u.ETag,
		ScanStatus: domain.ScanStatusCompleted, Result: domain.ScanNoThreatsFound}
	body, err := s.objects.ReadLeading(ctx, u.Key, u.VersionID, int(min(u.SizeBytes, ports.MaxReadLeading)))
	switch {
	case domain.IsKind(err, domain.KindNotFound):
		v.ScanStatus, v.Result = domain.ScanFailed, domain.ScanFailed
	case err != nil:
		return err
	case bytes.Contains(body, eicar):
		v.Result, v.Threats = domain.ScanThreatsFound, []string{eicarThreat}
	}
	if v.Result != domain.ScanFailed {
		if err := s.objects.SetScanTag(ctx, u.Key, u.VersionID, v.Result); err != nil {
			return err
		}
	}
	at := s.now()
	eventID, err := domain.NewID(at, rand.Reader)
	if err != nil {
		return err
	}
	event, err := guardduty.Encode(v, eventID, at)
	if err != nil {
		return err
	}
	out, err := s.deliver(ctx, event)
	if err != nil {
		return err
	}
	var res lambdaResponse
	_ = json.Unmarshal(out, &res)
	s.log.InfoContext(ctx, "upload scanned", "upload_id", u.ID, "result", v.Result, "threats", v.Threats,
		"event_id", eventID, "outcome", res.Outcome, "reason", res.Reason)
	return nil
}
