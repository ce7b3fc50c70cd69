package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// HandleVerdict applies a malware scanner's verdict to the upload whose
// quarantine object it names. The domain decides (domain.Upload.DecideVerdict);
// this carries the decision out:
//
//   - promote (clean, about the recorded version): the version is checked
//     again (size, ETag) and its leading bytes must be of the declared type
//     (else the upload is rejected with content_type_mismatch); it is copied
//     to the accepted area; a transaction re-decides and marks the upload
//     accepted; then every quarantine version is deleted.
//   - reject (malware) or fail (not scannable): the upload is marked in a
//     transaction, then its objects are deleted.
//   - save (a clean verdict before complete): remembered until complete.
//   - ignore: a duplicate, a late verdict, or one about another version of
//     the key. When the upload is settled, whatever still sits at its
//     quarantine key (a copy left by a crash, or a new PUT on a link that
//     was still valid) is deleted.
//
// upload.accepted and upload.rejected go to the outbox in the transaction
// that makes the change, so each is written exactly once.
//
// Crash safety. The order is: object work that is safe to repeat, then the
// transaction that records the outcome, then deleting what is no longer
// needed. A crash or error before the transaction leaves the upload as it
// was (at most an unreferenced accepted copy, removed by any later settling
// or overwritten by the next promotion); one after it leaves only objects
// that nothing serves (the database is the gate), which the redelivered
// verdict, now a duplicate, deletes. The clean verdict is stored before the
// object work, so an interrupted promotion is also resumed by the
// reconciler.
//
// It returns nil when the verdict was applied or deliberately ignored,
// including verdicts about another bucket, outside the quarantine prefix or
// about an unknown key (logged), so the caller acknowledges them. Any error
// is a failed dependency (KindUnavailable, KindInternal): the caller should
// have the verdict delivered again.
func (s *Uploads) HandleVerdict(ctx context.Context, v domain.ScanVerdict) error {
	log := s.log.With("bucket", v.Bucket, "key", v.Key, "version_id", v.VersionID,
		"scan_status", v.ScanStatus, "result", v.Result)
	if v.Bucket != s.cfg.Bucket || !strings.HasPrefix(v.Key, s.cfg.QuarantinePrefix) {
		log.InfoContext(ctx, "scan verdict about an object outside the quarantine area ignored")
		return nil
	}
	u, err := s.stores.Uploads.UploadByObject(ctx, v.Bucket, v.Key)
	if domain.IsKind(err, domain.KindNotFound) {
		log.WarnContext(ctx, "scan verdict about an unknown object ignored")
		return nil
	} else if err != nil {
		return err
	}
	_, err = s.applyVerdict(ctx, u.ID, v)
	return err
}

// applyVerdict decides v for the upload with that id and carries the
// decision out (see HandleVerdict). It returns the upload as it is then.
func (s *Uploads) applyVerdict(ctx context.Context, id string, v domain.ScanVerdict) (domain.Upload, error) {
	d, u, err := s.decide(ctx, id, v, nil)
	if err != nil {
		return u, err
	}
	s.log.InfoContext(ctx, "scan verdict decided", "upload_id", u.ID, "result", v.Result,
		"action", d.Action.String(), "why", string(d.Why), "status", string(u.Status))
	switch d.Action {
	case domain.ActionPromote:
		return s.promote(ctx, u, d.Verdict)
	case domain.ActionReject, domain.ActionFail:
		return u, s.cleanup(ctx, u)
	case domain.ActionIgnore:
		if u.Status.Terminal() {
			return u, s.cleanup(ctx, u)
		}
	}
	return u, nil
}

// decide runs, in one transaction, the domain's decision on v against the
// stored upload. When it is promote and finish is not nil, finish records
// the outcome of the object work (MarkAccepted, MarkRejected or MarkFailed)
// on the upload the decision was made on. The upload is stored unless the
// decision is to ignore, and the event of a move to accepted or rejected is
// enqueued with it. It returns the decision and the upload as stored (or as
// found, when ignored).
func (s *Uploads) decide(ctx context.Context, id string, v domain.ScanVerdict, finish func(*domain.Upload) error) (domain.Decision, domain.Upload, error) {
	var (
		d   domain.Decision
		out domain.Upload
	)
	now := s.now()
	err := s.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var before domain.UploadStatus
		err := s.stores.Uploads.UpdateUpload(ctx, id, func(u *domain.Upload) error {
			before = u.Status
			d = u.DecideVerdict(v, now)
			if d.Action == domain.ActionPromote && finish != nil {
				if err := finish(u); err != nil {
					return err
				}
			}
			out = *u
			if d.Action == domain.ActionIgnore {
				return errUnchanged
			}
			return nil
		})
		if errors.Is(err, errUnchanged) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.emit(ctx, before, out, now)
	})
	return d, out, err
}

// promote carries out ActionPromote for u, whose recorded version v is
// about, and returns the upload as it is afterwards.
func (s *Uploads) promote(ctx context.Context, u domain.Upload, v domain.ScanVerdict) (domain.Upload, error) {
	finish, err := s.checkAndCopy(ctx, u)
	if err != nil {
		return u, err
	}
	_, out, err := s.decide(ctx, u.ID, v, finish)
	if err != nil {
		return u, err
	}
	return out, s.cleanup(ctx, out)
}

// checkAndCopy does the object work of a promotion: the recorded version
// must still be there as recorded and start with bytes of the declared
// type, and is then copied to the accepted area. It returns how to record
// the outcome; an error only when the object store failed.
func (s *Uploads) checkAndCopy(ctx context.Context, u domain.Upload) (func(*domain.Upload) error, error) {
	now := s.now()
	mismatch := func(u *domain.Upload) error {
		return u.MarkFailed(now, domain.CodeObjectMismatch, "The uploaded file changed or disappeared before it could be accepted.")
	}
	gone := func(err error) bool { return domain.IsKind(err, domain.KindNotFound) }

	info, err := s.objects.Head(ctx, u.Key, u.VersionID)
	if gone(err) {
		return mismatch, nil
	} else if err != nil {
		return nil, err
	}
	if domain.NormalizeETag(info.ETag) != domain.NormalizeETag(u.ETag) || info.Size != u.SizeBytes {
		return mismatch, nil
	}
	leading, err := s.objects.ReadLeading(ctx, u.Key, u.VersionID, int(min(int64(domain.SniffLen), u.SizeBytes)))
	if gone(err) {
		return mismatch, nil
	} else if err != nil {
		return nil, err
	}
	if !domain.SniffMatches(u.ContentType, leading) {
		return func(u *domain.Upload) error {
			return u.MarkRejected(now, domain.CodeContentTypeMismatch, "The file's contents are not of its declared type ("+u.ContentType+").", nil)
		}, nil
	}
	if _, err := s.objects.Copy(ctx, u.Key, u.VersionID, s.acceptedKey(u)); gone(err) {
		return mismatch, nil
	} else if err != nil {
		return nil, err
	}
	return func(u *domain.Upload) error { return u.MarkAccepted(now) }, nil
}

// cleanup deletes the objects u no longer needs in its status: the
// quarantine versions once it is accepted, both objects once it is settled
// otherwise, and any accepted copy while it is not settled.
func (s *Uploads) cleanup(ctx context.Context, u domain.Upload) error {
	switch u.Status {
	case domain.UploadPending, domain.UploadScanning:
		return s.objects.Delete(ctx, s.acceptedKey(u))
	case domain.UploadAccepted:
		return s.objects.Delete(ctx, u.Key)
	}
	return s.removeObjects(ctx, u)
}

// uploadEvent is the detail of upload.accepted and upload.rejected. It
// carries no file name: events leave the system, names are the user's.
type uploadEvent struct {
	UploadID    string   `json:"upload_id"`
	OwnerID     string   `json:"owner_id"`
	Status      string   `json:"status"`
	ContentType string   `json:"content_type"`
	SizeBytes   int64    `json:"size_bytes"`
	Result      string   `json:"result,omitempty"`
	Code        string   `json:"code,omitempty"`
	Threats     []string `json:"threats,omitempty"`
}

// emit enqueues upload.accepted or upload.rejected when the upload moved
// from before into that status.
func (s *Uploads) emit(ctx context.Context, before domain.UploadStatus, u domain.Upload, now time.Time) error {
	if before == u.Status {
		return nil
	}
	var typ string
	switch u.Status {
	case domain.UploadAccepted:
		typ = EventUploadAccepted
	case domain.UploadRejected:
		typ = EventUploadRejected
	default:
		return nil
	}
	detail := uploadEvent{UploadID: u.ID, OwnerID: u.OwnerID, Status: string(u.Status), ContentType: u.ContentType, SizeBytes: u.SizeBytes}
	if u.Scan != nil {
		detail.Result, detail.Code, detail.Threats = u.Scan.Result, u.Scan.Code, u.Scan.Threats
	}
	body, err := json.Marshal(detail)
	if err != nil {
		return domain.Wrap(domain.KindInternal, "app.Uploads.emit", err)
	}
	id, err := domain.NewID(now, s.random)
	if err != nil {
		return err
	}
	msg, err := domain.NewEventOutbox(domain.Event{ID: id, Type: typ, Version: 1, OccurredAt: now, Detail: body})
	if err != nil {
		return err
	}
	return s.stores.Outbox.Enqueue(ctx, msg)
}
