package app_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
)

func TestReconcileScanning(t *testing.T) {
	t.Parallel()
	const stale = 15*time.Minute + time.Second
	cases := []struct {
		name       string
		tag        string        // the scan tag on the recorded version; "" for none
		removed    bool          // the object is gone
		wait       time.Duration // from complete to the pass
		wantStatus domain.UploadStatus
		wantCode   string
		wantReport app.ReconcileReport
		wantQ      bool
		wantA      bool
	}{
		{"a clean tag accepts", domain.ScanNoThreatsFound, false, stale,
			domain.UploadAccepted, "", app.ReconcileReport{Settled: 1}, false, true},
		{"a threats tag rejects", domain.ScanThreatsFound, false, stale,
			domain.UploadRejected, domain.CodeThreatsFound, app.ReconcileReport{Settled: 1}, false, false},
		{"an unsupported tag fails", domain.ScanUnsupported, false, stale,
			domain.UploadFailed, domain.CodeScanUnsupported, app.ReconcileReport{Settled: 1}, false, false},
		{"an unknown tag fails closed", "SOMETHING_NEW", false, stale,
			domain.UploadFailed, domain.CodeScanFailed, app.ReconcileReport{Settled: 1}, false, false},
		{"an upload not stale yet is left alone", domain.ScanNoThreatsFound, false, 14 * time.Minute,
			domain.UploadScanning, "", app.ReconcileReport{}, true, false},
		{"no tag yet waits", "", false, stale,
			domain.UploadScanning, "", app.ReconcileReport{Waiting: 1}, true, false},
		{"no tag after the give-up time fails", "", false, 25 * time.Hour,
			domain.UploadFailed, domain.CodeScanFailed, app.ReconcileReport{Settled: 1}, false, false},
		{"a vanished object fails", "", true, stale,
			domain.UploadFailed, domain.CodeObjectMismatch, app.ReconcileReport{Settled: 1}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newUploadsEnv(t, "")
			u, info := e.completed("a.txt", "text/plain", textBody)
			if tc.tag != "" {
				if err := e.objects.SetScanTag(e.ctx, info.Key, info.VersionID, tc.tag); err != nil {
					t.Fatal(err)
				}
			}
			if tc.removed {
				if err := e.objects.Delete(e.ctx, u.Key); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(tc.wait)
			rep, err := e.svc.Reconcile(e.ctx)
			if err != nil {
				t.Fatalf("Reconcile: got error %v, want nil", err)
			}
			if d := cmp.Diff(rep, tc.wantReport); d != "" {
				t.Errorf("report (-got +want):\n%s", d)
			}
			got := e.wantStatus(u.ID, tc.wantStatus)
			if tc.wantCode != "" && (got.Scan == nil || got.Scan.Code != tc.wantCode) {
				t.Errorf("scan: got %+v, want code %q", got.Scan, tc.wantCode)
			}
			e.wantObjects(u, tc.wantQ && !tc.removed, tc.wantA)

			// A second pass finds nothing more to do.
			rep, err = e.svc.Reconcile(e.ctx)
			if err != nil {
				t.Fatalf("second Reconcile: %v", err)
			}
			if tc.wantStatus.Terminal() && rep != (app.ReconcileReport{}) {
				t.Errorf("second pass: got report %+v, want nothing done", rep)
			}
		})
	}
}

func TestReconcileResumesAnInterruptedPromotion(t *testing.T) {
	t.Parallel()
	e := newUploadsEnv(t, "")
	u, info := e.completed("a.txt", "text/plain", textBody)
	e.objects.FailNext(1, domain.KindUnavailable)
	err := e.svc.HandleVerdict(e.ctx, verdict(info, domain.ScanNoThreatsFound))
	wantKind(t, "HandleVerdict", err, domain.KindUnavailable, "")
	e.wantStatus(u.ID, domain.UploadScanning)

	// The event is not redelivered and the object has no tag: the
	// remembered verdict is enough.
	e.clock.Advance(16 * time.Minute)
	rep, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if d := cmp.Diff(rep, app.ReconcileReport{Settled: 1}); d != "" {
		t.Errorf("report (-got +want):\n%s", d)
	}
	e.wantStatus(u.ID, domain.UploadAccepted)
	e.wantObjects(u, false, true)
	if d := cmp.Diff(e.events(), []string{"upload.accepted " + u.ID}); d != "" {
		t.Errorf("events (-got +want):\n%s", d)
	}
}

func TestReconcileExpiresPendingUploads(t *testing.T) {
	t.Parallel()
	e := newUploadsEnv(t, "")
	put := e.create("a.txt", "text/plain", len(textBody))
	e.put(put, textBody) // uploaded, never completed
	never := e.create("b.txt", "text/plain", len(textBody))
	done, _ := e.completed("c.txt", "text/plain", textBody)

	// The PUT link lasts 15 minutes, the grace an hour more.
	e.clock.Advance(15*time.Minute + time.Hour - time.Second)
	if _, err := e.svc.Reconcile(e.ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	e.wantStatus(put.ID, domain.UploadPending)
	e.wantObjects(put, true, false)

	e.clock.Advance(2 * time.Second)
	rep, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if rep.Expired != 2 {
		t.Errorf("report: got %d expired, want 2", rep.Expired)
	}
	for _, u := range []domain.Upload{put, never} {
		e.wantStatus(u.ID, domain.UploadExpired)
		e.wantObjects(u, false, false)
	}
	e.wantStatus(done.ID, domain.UploadScanning)
	if got, err := e.svc.Complete(e.ctx, e.owner, put.ID); err != nil || got.Status != domain.UploadExpired {
		t.Errorf("Complete after expiry: got %v, %v; want the upload back, still expired", got.Status, err)
	}
	e.wantStatus(put.ID, domain.UploadExpired)
}

func TestReconcileReportsFailuresAndContinues(t *testing.T) {
	t.Parallel()
	e := newUploadsEnv(t, "")
	a, ia := e.completed("a.txt", "text/plain", textBody)
	b, ib := e.completed("b.txt", "text/plain", textBody)
	for _, info := range []struct{ key, version string }{{ia.Key, ia.VersionID}, {ib.Key, ib.VersionID}} {
		if err := e.objects.SetScanTag(e.ctx, info.key, info.version, domain.ScanThreatsFound); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(16 * time.Minute)
	e.objects.FailNext(1, domain.KindUnavailable) // the first upload's HEAD
	rep, err := e.svc.Reconcile(e.ctx)
	wantKind(t, "Reconcile", err, domain.KindUnavailable, "")
	if rep.Settled != 1 {
		t.Errorf("report: got %d settled, want 1", rep.Settled)
	}
	if _, err := e.svc.Reconcile(e.ctx); err != nil {
		t.Fatalf("second Reconcile: %v", err)
	}
	for _, u := range []domain.Upload{a, b} {
		e.wantStatus(u.ID, domain.UploadRejected)
	}
}
