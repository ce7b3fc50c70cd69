package app

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// scanStatusOf is the scan status GuardDuty reports with each result; a
// verdict read from an object's tag carries only the result.
var scanStatusOf = map[string]string{
	domain.ScanNoThreatsFound: domain.ScanStatusCompleted,
	domain.ScanThreatsFound:   domain.ScanStatusCompleted,
	domain.ScanUnsupported:    "SKIPPED",
	domain.ScanAccessDenied:   "SKIPPED",
	domain.ScanFailed:         "FAILED",
}

// ReconcileReport counts what one reconciler pass did.
type ReconcileReport struct {
	Settled int // scanning uploads accepted, rejected or failed
	Waiting int // scanning uploads whose object has no verdict yet
	Expired int // pending uploads expired
}

// Reconcile makes one pass over the uploads that events alone did not
// settle, up to ReconcileBatch of each kind:
//
//   - Uploads in scanning for longer than ScanStaleAfter (the verdict event
//     was lost, or handling it failed for good) get their verdict from the
//     recorded version's scan tag, or from the clean verdict remembered
//     when a promotion was interrupted, and it is applied as HandleVerdict
//     would. Without a tag they wait, until ScanGiveUpAfter: then they fail
//     (scan_failed) and their objects are deleted. A recorded version that
//     is gone or changed fails them (object_mismatch).
//   - Uploads still pending PutURLTTL + PendingGrace after creation expire,
//     and whatever was put at their key is deleted.
//
// Every upload is handled on its own: failures are collected and returned
// together after the pass, and the next pass tries again. It is safe to run
// in several places at once.
func (s *Uploads) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var (
		rep  ReconcileReport
		errs []error
	)
	now := s.now()
	scanning, err := s.stores.Uploads.StaleUploads(ctx, domain.UploadScanning, now.Add(-s.cfg.ScanStaleAfter), s.cfg.ReconcileBatch)
	if err != nil {
		errs = append(errs, err)
	}
	for _, u := range scanning {
		settled, err := s.reconcileScanning(ctx, u, now)
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "reconciling a scanning upload failed", "upload_id", u.ID, "error", err)
			errs = append(errs, err)
		case settled:
			rep.Settled++
		default:
			rep.Waiting++
		}
	}
	grace := s.cfg.PutURLTTL + s.cfg.PendingGrace
	pending, err := s.stores.Uploads.StaleUploads(ctx, domain.UploadPending, now.Add(-grace), s.cfg.ReconcileBatch)
	if err != nil {
		errs = append(errs, err)
	}
	for _, u := range pending {
		expired, err := s.expire(ctx, u.ID, now, grace)
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "expiring a pending upload failed", "upload_id", u.ID, "error", err)
			errs = append(errs, err)
		case expired:
			rep.Expired++
		}
	}
	return rep, errors.Join(errs...)
}

// reconcileScanning settles one stale scanning upload if its verdict can be
// found, and reports whether the upload is settled afterwards.
func (s *Uploads) reconcileScanning(ctx context.Context, u domain.Upload, now time.Time) (bool, error) {
	var v domain.ScanVerdict
	if u.Verdict != nil && u.Verdict.Clean() {
		v = *u.Verdict // a promotion that was interrupted
	} else {
		mismatch := func() (bool, error) {
			return s.failScanning(ctx, u.ID, domain.CodeObjectMismatch, "The uploaded file changed or disappeared before it was scanned.", now)
		}
		info, err := s.objects.Head(ctx, u.Key, u.VersionID)
		if domain.IsKind(err, domain.KindNotFound) {
			return mismatch()
		} else if err != nil {
			return false, err
		}
		if domain.NormalizeETag(info.ETag) != domain.NormalizeETag(u.ETag) {
			return mismatch()
		}
		tag, err := s.objects.ScanTag(ctx, u.Key, u.VersionID)
		if domain.IsKind(err, domain.KindNotFound) {
			return mismatch()
		} else if err != nil {
			return false, err
		}
		if tag == "" {
			since := u.UpdatedAt
			if u.CompletedAt != nil {
				since = *u.CompletedAt
			}
			if now.Sub(since) >= s.cfg.ScanGiveUpAfter {
				return s.failScanning(ctx, u.ID, domain.CodeScanFailed, "The malware scan did not finish in time.", now)
			}
			return false, nil
		}
		v = domain.ScanVerdict{Bucket: u.Bucket, Key: u.Key, VersionID: u.VersionID, ETag: u.ETag,
			ScanStatus: scanStatusOf[tag], Result: tag}
	}
	out, err := s.applyVerdict(ctx, u.ID, v)
	if err != nil {
		return false, err
	}
	return out.Status.Terminal(), nil
}

// failScanning fails the upload if it is still scanning, then deletes its
// objects. It reports whether the upload is settled afterwards.
func (s *Uploads) failScanning(ctx context.Context, id, code, reason string, now time.Time) (bool, error) {
	var out domain.Upload
	err := s.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		err := s.stores.Uploads.UpdateUpload(ctx, id, func(u *domain.Upload) error {
			out = *u
			if u.Status != domain.UploadScanning {
				return errUnchanged // settled meanwhile
			}
			if err := u.MarkFailed(now, code, reason); err != nil {
				return err
			}
			out = *u
			return nil
		})
		if errors.Is(err, errUnchanged) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, err
	}
	if !out.Status.Terminal() {
		return false, nil
	}
	return true, s.cleanup(ctx, out)
}

// expire expires the upload if it is still pending and due, then deletes
// whatever was put at its key. It reports whether it expired the upload.
func (s *Uploads) expire(ctx context.Context, id string, now time.Time, grace time.Duration) (bool, error) {
	var (
		out     domain.Upload
		expired bool
	)
	err := s.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		expired = false
		err := s.stores.Uploads.UpdateUpload(ctx, id, func(u *domain.Upload) error {
			if err := u.Expire(now, grace); domain.IsKind(err, domain.KindConflict) {
				return errUnchanged // completed or settled meanwhile, or not due
			} else if err != nil {
				return err
			}
			out, expired = *u, true
			return nil
		})
		if errors.Is(err, errUnchanged) {
			return nil
		}
		return err
	})
	if err != nil || !expired {
		return false, err
	}
	return true, s.cleanup(ctx, out)
}
