//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// scanningUploads is an UploadStore that has only the given uploads, all in
// scanning; the scanner needs nothing else of it.
type scanningUploads struct {
	ports.UploadStore
	list []domain.Upload
}

func (s scanningUploads) StaleUploads(_ context.Context, status domain.UploadStatus, _ time.Time, _ int) ([]domain.Upload, error) {
	if status != domain.UploadScanning {
		return nil, nil
	}
	return s.list, nil
}

// deliveries records what the scanner hands the Lambda's handler, failing
// the first fail of them.
type deliveries struct {
	events [][]byte
	fail   int
}

func (d *deliveries) deliver(_ context.Context, event []byte) ([]byte, error) {
	if d.fail > 0 {
		d.fail--
		return nil, errors.New("the database is down")
	}
	d.events = append(d.events, event)
	return []byte(`{"outcome":"handled"}`), nil
}

func TestDevScannerVerdicts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    []byte // nil: the object is gone
		want    domain.ScanVerdict
		wantTag string
	}{
		{
			name:    "a clean file",
			body:    []byte("Hello, gatehouse!\n"),
			want:    domain.ScanVerdict{ScanStatus: domain.ScanStatusCompleted, Result: domain.ScanNoThreatsFound},
			wantTag: domain.ScanNoThreatsFound,
		},
		{
			name:    "the EICAR test file",
			body:    eicar,
			want:    domain.ScanVerdict{ScanStatus: domain.ScanStatusCompleted, Result: domain.ScanThreatsFound, Threats: []string{eicarThreat}},
			wantTag: domain.ScanThreatsFound,
		},
		{
			name:    "the EICAR string inside a file",
			body:    append(append([]byte("some text\n"), eicar...), "\nmore text\n"...),
			want:    domain.ScanVerdict{ScanStatus: domain.ScanStatusCompleted, Result: domain.ScanThreatsFound, Threats: []string{eicarThreat}},
			wantTag: domain.ScanThreatsFound,
		},
		{
			name: "an object that is gone",
			body: nil,
			want: domain.ScanVerdict{ScanStatus: domain.ScanFailed, Result: domain.ScanFailed},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objects := inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://127.0.0.1:1"})
			u := domain.Upload{ID: "01a217aa-0d66-7090-83fe-5bf414f99120", Bucket: inmem.DefaultObjectBucket, Key: "quarantine/01a217aa-0d66-7090-83fe-5bf414f99120",
				Status: domain.UploadScanning, ContentType: "text/plain", SizeBytes: 10, VersionID: "v1", ETag: "etag"}
			if tc.body != nil {
				info := objects.Put(u.Key, "text/plain", tc.body)
				u.VersionID, u.ETag, u.SizeBytes = info.VersionID, info.ETag, info.Size
			}
			d := &deliveries{}
			s := newDevScanner(scanningUploads{list: []domain.Upload{u}}, objects, d.deliver, slog.New(slog.NewTextHandler(io.Discard, nil)))

			if got := s.pass(t.Context()); got != 1 {
				t.Fatalf("first pass: got %d verdicts delivered, want 1", got)
			}
			got, err := guardduty.Decode(d.events[0])
			if err != nil {
				t.Fatalf("the event the scanner delivered is not a GuardDuty scan result: %v\n%s", err, d.events[0])
			}
			want := tc.want
			want.Bucket, want.Key, want.VersionID, want.ETag = u.Bucket, u.Key, u.VersionID, u.ETag
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if tc.body != nil {
				tag, err := objects.ScanTag(t.Context(), u.Key, u.VersionID)
				if err != nil || tag != tc.wantTag {
					t.Errorf("scan tag: got %q, %v; want %q", tag, err, tc.wantTag)
				}
			}
			if got := s.pass(t.Context()); got != 0 || len(d.events) != 1 {
				t.Errorf("second pass over the same waiting upload: got %d more verdicts (%d in all), want none", got, len(d.events))
			}
		})
	}
}

func TestDevScannerRetriesAFailedDeliveryLater(t *testing.T) {
	t.Parallel()
	objects := inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://127.0.0.1:1"})
	key := "quarantine/01a217aa-0d66-7090-83fe-5bf414f99120"
	info := objects.Put(key, "text/plain", []byte("hello\n"))
	u := domain.Upload{ID: "01a217aa-0d66-7090-83fe-5bf414f99120", Bucket: info.Bucket, Key: key, Status: domain.UploadScanning,
		ContentType: "text/plain", SizeBytes: info.Size, VersionID: info.VersionID, ETag: info.ETag}
	d := &deliveries{fail: 2}
	clock := inmem.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := newDevScanner(scanningUploads{list: []domain.Upload{u}}, objects, d.deliver, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = clock.Now

	steps := []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"the first delivery fails", 0, 0},
		{"no new attempt before the back-off", 0, 0},
		{"the second fails too", devScanInterval * 2, 0},
		{"the back-off doubled", devScanInterval * 2, 0},
		{"the third is taken", devScanInterval * 2, 1},
		{"and nothing more", devScanMaxBackoff, 0},
	}
	for _, step := range steps {
		clock.Advance(step.advance)
		if got := s.pass(t.Context()); got != step.want {
			t.Errorf("%s: got %d verdicts delivered, want %d", step.name, got, step.want)
		}
	}
	if len(d.events) != 1 {
		t.Errorf("got %d events delivered in all, want 1", len(d.events))
	}
}
