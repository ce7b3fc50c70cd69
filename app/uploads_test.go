package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
)

func wantKind(t *testing.T, call string, err error, kind domain.Kind, code string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got nil error, want kind %v", call, kind)
	case domain.KindOf(err) != kind:
		t.Errorf("%s: got error %v (kind %v), want kind %v", call, err, domain.KindOf(err), kind)
	case code != "" && domain.CodeOf(err) != code:
		t.Errorf("%s: got error %v (code %q), want code %q", call, err, domain.CodeOf(err), code)
	}
}

// TestUploadRoundTripOverHTTP follows one file the way a browser and
// GuardDuty would: declare, PUT to the presigned URL, complete, clean
// verdict, download.
func TestUploadRoundTripOverHTTP(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := newUploadsEnv(t, srv.URL)
	mux.Handle("/", e.objects.Handler())

	c, err := e.svc.Create(e.ctx, e.owner, app.NewUploadRequest{
		Filename: "../../Quarterly\u202Ereport.pdf", ContentType: "application/pdf", SizeBytes: int64(len(pdfBody)),
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	u := c.Upload
	if want := "quarantine/" + u.ID; u.Key != want {
		t.Errorf("key: got %q, want %q (the server's id, never the file name)", u.Key, want)
	}
	if u.Filename != "Quarterlyreport.pdf" || u.Status != domain.UploadPending {
		t.Errorf("upload: got filename %q status %q, want %q pending", u.Filename, u.Status, "Quarterlyreport.pdf")
	}
	if c.Put.Method != http.MethodPut || !c.Put.ExpiresAt.Equal(uploadsStart.Add(15*time.Minute)) {
		t.Errorf("put: got %s expiring %v, want PUT expiring in 15 minutes", c.Put.Method, c.Put.ExpiresAt)
	}

	req, err := http.NewRequestWithContext(e.ctx, c.Put.Method, c.Put.URL, bytes.NewReader(pdfBody))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.Put.Headers {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT: got status %d, want 200", res.StatusCode)
	}

	got, err := e.svc.Complete(e.ctx, e.owner, u.ID)
	if err != nil || got.Status != domain.UploadScanning {
		t.Fatalf("Complete: got status %q, error %v; want scanning", got.Status, err)
	}
	if _, err := e.svc.Download(e.ctx, e.owner, u.ID); domain.CodeOf(err) != domain.CodeUploadNotAccepted {
		t.Errorf("Download while scanning: got error %v, want code %s", err, domain.CodeUploadNotAccepted)
	}
	info, err := e.objects.Head(e.ctx, u.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	e.handle(verdict(info, domain.ScanNoThreatsFound))
	e.wantStatus(u.ID, domain.UploadAccepted)

	dl, err := e.svc.Download(e.ctx, e.owner, u.ID)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if !dl.ExpiresAt.Equal(uploadsStart.Add(5 * time.Minute)) {
		t.Errorf("download expires at %v, want in 5 minutes", dl.ExpiresAt)
	}
	res, err = srv.Client().Get(dl.URL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, pdfBody) {
		t.Fatalf("GET: got status %d and %d bytes, want 200 and the file", res.StatusCode, len(body))
	}
	disp, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != "Quarterlyreport.pdf" {
		t.Errorf("Content-Disposition: got %q, want an attachment named Quarterlyreport.pdf", res.Header.Get("Content-Disposition"))
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type: got %q, want application/pdf", ct)
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	t.Run("a declared SHA-256 binds the PUT to it", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		c, err := e.svc.Create(e.ctx, e.owner, app.NewUploadRequest{Filename: "a.txt", ContentType: "text/plain",
			SizeBytes: 5, SHA256: strings.Repeat("AB", 32)})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if c.Upload.SHA256 != strings.Repeat("ab", 32) {
			t.Errorf("sha256: got %q, want it lower-cased", c.Upload.SHA256)
		}
		if c.Put.Headers["X-Amz-Checksum-Sha256"] == "" || c.Put.Headers["Content-Type"] != "text/plain" {
			t.Errorf("put headers: got %v, want the checksum and the content type", c.Put.Headers)
		}
		stored := e.get(c.Upload.ID)
		if d := cmp.Diff(stored, c.Upload); d != "" {
			t.Errorf("stored upload differs from the returned one (-stored +returned):\n%s", d)
		}
	})

	cases := []struct {
		name string
		req  app.NewUploadRequest
		code string
	}{
		{"a type not allowed", app.NewUploadRequest{Filename: "a.svg", ContentType: "image/svg+xml", SizeBytes: 10}, domain.CodeContentTypeNotAllowed},
		{"a file too large", app.NewUploadRequest{Filename: "a.png", ContentType: "image/png", SizeBytes: domain.DefaultUploadMaxSizeBytes + 1}, domain.CodeFileTooLarge},
		{"an empty file", app.NewUploadRequest{Filename: "a.png", ContentType: "image/png", SizeBytes: 0}, domain.CodeInvalidUpload},
		{"an extension that contradicts the type", app.NewUploadRequest{Filename: "a.png.exe", ContentType: "image/png", SizeBytes: 10}, domain.CodeFilenameTypeMismatch},
	}
	for _, tc := range cases {
		t.Run("refuses "+tc.name+" and stores nothing", func(t *testing.T) {
			t.Parallel()
			e := newUploadsEnv(t, "")
			_, err := e.svc.Create(e.ctx, e.owner, tc.req)
			wantKind(t, "Create", err, domain.KindInvalid, tc.code)
			list, err := e.svc.List(e.ctx, e.owner, 0, "")
			if err != nil || len(list.Uploads) != 0 {
				t.Errorf("List: got %d uploads, error %v; want none", len(list.Uploads), err)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		put     func(e *uploadsEnv, u domain.Upload)
		owner   func(e *uploadsEnv) string
		kind    domain.Kind
		code    string
		pending bool
	}{
		{"nothing uploaded yet is upload_mismatch", func(*uploadsEnv, domain.Upload) {}, nil, domain.KindInvalid, domain.CodeUploadMismatch, true},
		{"another size is upload_mismatch", func(e *uploadsEnv, u domain.Upload) { e.put(u, append(textBody, 'x')) }, nil, domain.KindInvalid, domain.CodeUploadMismatch, true},
		{"another content type is upload_mismatch", func(e *uploadsEnv, u domain.Upload) { e.objects.Put(u.Key, "text/html", textBody) }, nil, domain.KindInvalid, domain.CodeUploadMismatch, true},
		{"another owner's upload is not found", func(e *uploadsEnv, u domain.Upload) { e.put(u, textBody) }, func(e *uploadsEnv) string { return e.other }, domain.KindNotFound, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newUploadsEnv(t, "")
			u := e.create("a.txt", "text/plain", len(textBody))
			tc.put(e, u)
			owner := e.owner
			if tc.owner != nil {
				owner = tc.owner(e)
			}
			_, err := e.svc.Complete(e.ctx, owner, u.ID)
			wantKind(t, "Complete", err, tc.kind, tc.code)
			e.wantStatus(u.ID, domain.UploadPending)
		})
	}

	t.Run("completing again with the same object is a no-op", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, _ := e.completed("a.txt", "text/plain", textBody)
		again, err := e.svc.Complete(e.ctx, e.owner, u.ID)
		if err != nil {
			t.Fatalf("Complete again: got error %v, want nil", err)
		}
		if d := cmp.Diff(again, u); d != "" {
			t.Errorf("Complete again changed the upload (-got +want):\n%s", d)
		}
	})

	t.Run("completing a settled upload returns it unchanged", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		got, err := e.svc.Complete(e.ctx, e.owner, u.ID)
		if err != nil || got.Status != domain.UploadAccepted {
			t.Fatalf("Complete of an accepted upload: got %v, %v; want it back, accepted", got.Status, err)
		}
		e.wantStatus(u.ID, domain.UploadAccepted)
	})
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		contentType string
		body        []byte
		result      string
		threats     []string
		wantStatus  domain.UploadStatus
		wantScan    domain.ScanResult // CompletedAt and Reason are not compared
		wantEvent   string            // "" when none; else type and code
		wantQ       bool              // quarantine object left
		wantA       bool              // accepted object left
	}{
		{"a clean file is accepted, copied and its quarantine copy deleted", "image/png", pngBody, domain.ScanNoThreatsFound, nil,
			domain.UploadAccepted, domain.ScanResult{Result: domain.ScanNoThreatsFound}, "upload.accepted", false, true},
		{"malware is rejected with its threat names and deleted", "text/plain", []byte("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"),
			domain.ScanThreatsFound, []string{"EICAR-Test-File (not a virus)"},
			domain.UploadRejected, domain.ScanResult{Result: domain.ScanThreatsFound, Code: domain.CodeThreatsFound, Threats: []string{"EICAR-Test-File (not a virus)"}},
			"upload.rejected threats_found EICAR-Test-File (not a virus)", false, false},
		{"an unsupported file fails and is deleted", "application/pdf", pdfBody, domain.ScanUnsupported, nil,
			domain.UploadFailed, domain.ScanResult{Result: domain.ScanUnsupported, Code: domain.CodeScanUnsupported}, "", false, false},
		{"access denied fails and is deleted", "application/pdf", pdfBody, domain.ScanAccessDenied, nil,
			domain.UploadFailed, domain.ScanResult{Result: domain.ScanAccessDenied, Code: domain.CodeScanAccessDenied}, "", false, false},
		{"a failed scan fails and is deleted", "application/pdf", pdfBody, domain.ScanFailed, nil,
			domain.UploadFailed, domain.ScanResult{Result: domain.ScanFailed, Code: domain.CodeScanFailed}, "", false, false},
		{"a clean file whose bytes are not its declared type is rejected", "image/png", textBody, domain.ScanNoThreatsFound, nil,
			domain.UploadRejected, domain.ScanResult{Result: domain.ScanNoThreatsFound, Code: domain.CodeContentTypeMismatch},
			"upload.rejected content_type_mismatch", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newUploadsEnv(t, "")
			u, info := e.completed("file", tc.contentType, tc.body)
			e.clock.Advance(time.Minute)
			e.handle(verdict(info, tc.result, tc.threats...))
			got := e.wantStatus(u.ID, tc.wantStatus)
			if got.Scan == nil {
				t.Fatal("scan: got nil, want a result")
			}
			scan := *got.Scan
			if !scan.CompletedAt.Equal(uploadsStart.Add(time.Minute)) {
				t.Errorf("scan completed at %v, want %v", scan.CompletedAt, uploadsStart.Add(time.Minute))
			}
			if (scan.Code == "") != (scan.Reason == "") {
				t.Errorf("scan: code %q with reason %q; want a reason exactly when there is a code", scan.Code, scan.Reason)
			}
			scan.CompletedAt, scan.Reason = time.Time{}, ""
			if d := cmp.Diff(scan, tc.wantScan); d != "" {
				t.Errorf("scan (-got +want):\n%s", d)
			}
			var want []string
			if tc.wantEvent != "" {
				typ, rest, _ := strings.Cut(tc.wantEvent, " ")
				want = []string{strings.TrimSpace(typ + " " + u.ID + " " + rest)}
			}
			if d := cmp.Diff(e.events(), want, cmpEmpty); d != "" {
				t.Errorf("events (-got +want):\n%s", d)
			}
			e.wantObjects(u, tc.wantQ, tc.wantA)

			// Delivery is at least once: the same verdict again changes nothing.
			before := e.get(u.ID)
			e.handle(verdict(info, tc.result, tc.threats...))
			if d := cmp.Diff(e.get(u.ID), before); d != "" {
				t.Errorf("a duplicate verdict changed the upload (-got +want):\n%s", d)
			}
			if n := len(e.events()); n != len(want) {
				t.Errorf("after a duplicate verdict: got %d events, want %d", n, len(want))
			}
			e.wantObjects(u, tc.wantQ, tc.wantA)
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal([]string(a), []string(b))
})

func TestVerdictForAnotherVersionIsIgnored(t *testing.T) {
	t.Parallel()
	e := newUploadsEnv(t, "")
	u, recorded := e.completed("a.png", "image/png", pngBody)
	// The client PUTs other bytes while its URL is still valid.
	replaced := e.put(u, append(append([]byte(nil), pngBody[:len(pngBody)-1]...), 'x'))
	e.handle(verdict(replaced, domain.ScanNoThreatsFound))
	e.wantStatus(u.ID, domain.UploadScanning)
	e.handle(verdict(replaced, domain.ScanThreatsFound, "Not.Ours"))
	e.wantStatus(u.ID, domain.UploadScanning)
	if n := len(e.events()); n != 0 {
		t.Errorf("got %d events, want none", n)
	}

	e.handle(verdict(recorded, domain.ScanNoThreatsFound))
	e.wantStatus(u.ID, domain.UploadAccepted)
	got, err := e.objects.ReadLeading(e.ctx, acceptedKey(u), "", len(pngBody))
	if err != nil || !bytes.Equal(got, pngBody) {
		t.Errorf("accepted copy: got %q, error %v; want the recorded version's bytes", got, err)
	}
	e.wantObjects(u, false, true) // every quarantine version is gone
}

func TestVerdictBeforeComplete(t *testing.T) {
	t.Parallel()
	t.Run("a clean verdict is remembered and accepts at complete", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u := e.create("a.txt", "text/plain", len(textBody))
		info := e.put(u, textBody)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		e.wantStatus(u.ID, domain.UploadPending)
		got, err := e.svc.Complete(e.ctx, e.owner, u.ID)
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if got.Status != domain.UploadAccepted {
			t.Errorf("Complete: got status %q, want accepted", got.Status)
		}
		e.wantObjects(u, false, true)
		if d := cmp.Diff(e.events(), []string{"upload.accepted " + u.ID}); d != "" {
			t.Errorf("events (-got +want):\n%s", d)
		}
	})

	t.Run("a clean verdict about a replaced version does not accept at complete", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u := e.create("a.txt", "text/plain", len(textBody))
		first := e.put(u, textBody)
		e.handle(verdict(first, domain.ScanNoThreatsFound))
		e.put(u, bytes.ToUpper(textBody))
		got, err := e.svc.Complete(e.ctx, e.owner, u.ID)
		if err != nil || got.Status != domain.UploadScanning {
			t.Errorf("Complete: got status %q, error %v; want scanning", got.Status, err)
		}
	})

	t.Run("malware settles the upload at once and complete then conflicts", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u := e.create("a.txt", "text/plain", len(textBody))
		info := e.put(u, textBody)
		e.handle(verdict(info, domain.ScanThreatsFound, "Bad.Thing"))
		e.wantStatus(u.ID, domain.UploadRejected)
		e.wantObjects(u, false, false)
		got, err := e.svc.Complete(e.ctx, e.owner, u.ID)
		if err != nil || got.Status != domain.UploadRejected {
			t.Fatalf("Complete of a rejected upload: got %v, %v; want it back, rejected", got.Status, err)
		}
		e.wantStatus(u.ID, domain.UploadRejected)
	})
}

func TestLateVerdictsAfterAcceptance(t *testing.T) {
	t.Parallel()
	t.Run("malware found later in the accepted version revokes it", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		e.handle(verdict(info, domain.ScanThreatsFound, "Late.Finding"))
		got := e.wantStatus(u.ID, domain.UploadRejected)
		if got.Scan == nil || got.Scan.Code != domain.CodeThreatsFound {
			t.Errorf("scan: got %+v, want code %s", got.Scan, domain.CodeThreatsFound)
		}
		e.wantObjects(u, false, false)
		_, err := e.svc.Download(e.ctx, e.owner, u.ID)
		wantKind(t, "Download", err, domain.KindConflict, domain.CodeUploadNotAccepted)
		want := []string{"upload.accepted " + u.ID, "upload.rejected " + u.ID + " threats_found Late.Finding"}
		if d := cmp.Diff(e.events(), want); d != "" {
			t.Errorf("events (-got +want):\n%s", d)
		}
	})

	t.Run("a verdict about a new PUT after acceptance is ignored and its object removed", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		stray := e.put(u, bytes.ToUpper(textBody))
		e.handle(verdict(stray, domain.ScanThreatsFound, "Stray"))
		e.wantStatus(u.ID, domain.UploadAccepted)
		e.wantObjects(u, false, true)
		if n := len(e.events()); n != 1 {
			t.Errorf("got %d events, want 1", n)
		}
	})
}

func TestVerdictsThatAreNotOurs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		v       func(info domain.ScanVerdict) domain.ScanVerdict
		wantLog string
	}{
		{"another bucket", func(v domain.ScanVerdict) domain.ScanVerdict { v.Bucket = "other"; return v }, "outside the quarantine area"},
		{"outside the quarantine prefix", func(v domain.ScanVerdict) domain.ScanVerdict {
			v.Key = "malware-protection-resource-validation-object"
			return v
		}, "outside the quarantine area"},
		{"an unknown key", func(v domain.ScanVerdict) domain.ScanVerdict { v.Key = "quarantine/unknown"; return v }, "unknown object"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is acknowledged, logged and changes nothing", func(t *testing.T) {
			t.Parallel()
			e := newUploadsEnv(t, "")
			u, info := e.completed("a.txt", "text/plain", textBody)
			e.handle(tc.v(verdict(info, domain.ScanThreatsFound, "X")))
			e.wantStatus(u.ID, domain.UploadScanning)
			e.wantObjects(u, true, false)
			if !strings.Contains(e.logs.String(), tc.wantLog) {
				t.Errorf("logs do not mention %q:\n%s", tc.wantLog, e.logs.String())
			}
		})
	}
}

func TestVerdictTransientErrorsAreReturnedAndRetrySucceeds(t *testing.T) {
	t.Parallel()
	t.Run("the object store failing mid-promotion", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		e.objects.FailNext(1, domain.KindUnavailable)
		err := e.svc.HandleVerdict(e.ctx, verdict(info, domain.ScanNoThreatsFound))
		wantKind(t, "HandleVerdict", err, domain.KindUnavailable, "")
		e.wantStatus(u.ID, domain.UploadScanning)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		e.wantStatus(u.ID, domain.UploadAccepted)
		e.wantObjects(u, false, true)
	})
	t.Run("the database being unreachable", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		err := e.svc.HandleVerdict(ctx, verdict(info, domain.ScanThreatsFound, "X"))
		wantKind(t, "HandleVerdict", err, domain.KindUnavailable, "")
		e.wantStatus(u.ID, domain.UploadScanning)
	})
	t.Run("the object store failing at the deletion after the verdict is recorded", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		e.objects.FailNext(1, domain.KindUnavailable)
		err := e.svc.HandleVerdict(e.ctx, verdict(info, domain.ScanThreatsFound, "X"))
		wantKind(t, "HandleVerdict", err, domain.KindUnavailable, "")
		e.wantStatus(u.ID, domain.UploadRejected) // the database gates downloads already
		e.handle(verdict(info, domain.ScanThreatsFound, "X"))
		e.wantObjects(u, false, false)
		if n := len(e.events()); n != 1 {
			t.Errorf("got %d events, want 1", n)
		}
	})
}

func TestDownloadAndDelete(t *testing.T) {
	t.Parallel()
	t.Run("download is refused until accepted and for other owners", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u := e.create("a.txt", "text/plain", len(textBody))
		_, err := e.svc.Download(e.ctx, e.owner, u.ID)
		wantKind(t, "Download pending", err, domain.KindConflict, domain.CodeUploadNotAccepted)
		_, err = e.svc.Download(e.ctx, e.other, u.ID)
		wantKind(t, "Download by another owner", err, domain.KindNotFound, "")
	})

	t.Run("download links the accepted copy with the file name as an attachment", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("résumé.txt", "text/plain", textBody)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		dl, err := e.svc.Download(e.ctx, e.owner, u.ID)
		if err != nil {
			t.Fatalf("Download: %v", err)
		}
		parsed, err := url.Parse(dl.URL)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(parsed.Path, "/"+acceptedKey(u)) {
			t.Errorf("download path %q is not the accepted copy %q", parsed.Path, acceptedKey(u))
		}
		if d := parsed.Query().Get("response-content-disposition"); !strings.Contains(d, "attachment") || !strings.Contains(d, "r%C3%A9sum%C3%A9.txt") {
			t.Errorf("disposition %q is not an attachment named résumé.txt", d)
		}
	})

	t.Run("delete removes the objects and the upload, which is not found afterwards", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, info := e.completed("a.txt", "text/plain", textBody)
		e.handle(verdict(info, domain.ScanNoThreatsFound))
		wantKind(t, "Delete by another owner", e.svc.Delete(e.ctx, e.other, u.ID), domain.KindNotFound, "")
		if err := e.svc.Delete(e.ctx, e.owner, u.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		e.wantObjects(u, false, false)
		_, err := e.uploads.UploadByID(e.ctx, u.ID, e.owner)
		wantKind(t, "UploadByID after Delete", err, domain.KindNotFound, "")
		_, err = e.svc.Download(e.ctx, e.owner, u.ID)
		wantKind(t, "Download after Delete", err, domain.KindNotFound, "")
		wantKind(t, "Delete again", e.svc.Delete(e.ctx, e.owner, u.ID), domain.KindNotFound, "")
		list, err := e.svc.List(e.ctx, e.owner, 0, "")
		if err != nil || len(list.Uploads) != 0 {
			t.Errorf("List: got %d uploads, error %v; want none", len(list.Uploads), err)
		}
		// A late verdict, and a PUT on the still-valid link, leave nothing behind.
		stray := e.put(u, textBody)
		e.handle(verdict(stray, domain.ScanNoThreatsFound))
		e.wantObjects(u, false, false)
	})

	t.Run("a failed object deletion leaves the upload for a retry", func(t *testing.T) {
		t.Parallel()
		e := newUploadsEnv(t, "")
		u, _ := e.completed("a.txt", "text/plain", textBody)
		e.objects.FailNext(1, domain.KindUnavailable)
		wantKind(t, "Delete", e.svc.Delete(e.ctx, e.owner, u.ID), domain.KindUnavailable, "")
		e.wantStatus(u.ID, domain.UploadScanning)
		if err := e.svc.Delete(e.ctx, e.owner, u.ID); err != nil {
			t.Fatalf("Delete again: %v", err)
		}
		e.wantObjects(u, false, false)
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newUploadsEnv(t, "")
	var want []string
	for range 5 {
		u := e.create("a.txt", "text/plain", 3)
		want = append([]string{u.ID}, want...) // newest first
		e.clock.Advance(time.Millisecond)
	}
	if _, err := e.svc.Create(e.ctx, e.other, app.NewUploadRequest{Filename: "b.txt", ContentType: "text/plain", SizeBytes: 3}); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor, pages := "", 0
	for {
		page, err := e.svc.List(e.ctx, e.owner, 2, cursor)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		pages++
		for _, u := range page.Uploads {
			got = append(got, u.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("listed ids (-got +want):\n%s", d)
	}
	if pages != 3 {
		t.Errorf("got %d pages, want 3", pages)
	}
	all, err := e.svc.List(e.ctx, e.owner, 1000, "")
	if err != nil || len(all.Uploads) != 5 || all.NextCursor != "" {
		t.Errorf("List with a huge limit: got %d uploads, cursor %q, error %v; want all 5 on one page", len(all.Uploads), all.NextCursor, err)
	}
	for _, bad := range []string{"x", "!!!", "MTIz", "MTIzLm5vdC1hbi1pZA"} {
		_, err := e.svc.List(e.ctx, e.owner, 2, bad)
		wantKind(t, "List with cursor "+bad, err, domain.KindInvalid, app.CodeInvalidCursor)
	}
}

func TestNewUploadsRefusesABadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*app.UploadsConfig)
	}{
		{"no bucket", func(c *app.UploadsConfig) { c.Bucket = "" }},
		{"a prefix without a slash", func(c *app.UploadsConfig) { c.AcceptedPrefix = "accepted" }},
		{"overlapping prefixes", func(c *app.UploadsConfig) { c.AcceptedPrefix = "quarantine/ok/" }},
		{"a PUT link for eight days", func(c *app.UploadsConfig) { c.PutURLTTL = 8 * 24 * time.Hour }},
		{"giving up before going stale", func(c *app.UploadsConfig) { c.ScanGiveUpAfter = c.ScanStaleAfter }},
		{"a batch too large", func(c *app.UploadsConfig) { c.ReconcileBatch = 1000 }},
		{"an uncheckable type allowed", func(c *app.UploadsConfig) { c.Policy.AllowedContentTypes = []string{"image/svg+xml"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testUploadsConfig()
			tc.change(&cfg)
			store := inmem.NewStore()
			uploads := inmem.NewUploadStore(store)
			_, err := app.NewUploads(app.UploadStores{Tx: uploads, Uploads: uploads, Outbox: store},
				inmem.NewObjectStore(inmem.ObjectStoreConfig{BaseURL: "http://127.0.0.1:1"}), inmem.NewClock(uploadsStart), cfg,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			wantKind(t, "NewUploads", err, domain.KindInternal, "")
		})
	}
}

// TestGetForSession checks the hot read's use case against Authenticate
// and the owner's view of uploads: session errors first, then the upload or
// nil.
func TestGetForSession(t *testing.T) {
	t.Parallel()
	e := newUploadsEnv(t, "")
	accounts, err := app.NewAccounts(app.AccountStores{Tx: e.store, Users: e.store, Tokens: e.store, Sessions: e.store, Limiter: e.store, Outbox: e.store},
		nil, e.clock, app.AccountsConfig{AppBaseURL: "https://app.example.com", Sessions: domain.DefaultSessionPolicy(), Limits: app.DefaultRateLimits()},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("NewAccounts: %v", err)
	}
	sid, err := domain.NewID(e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	token, sess, err := domain.NewSession(rand.Reader, sid, e.owner, e.clock.Now(), domain.DefaultSessionPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateSession(e.ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	mine, _ := e.completed("a.txt", "text/plain", textBody)
	theirs, err := e.svc.Create(e.ctx, e.other, app.NewUploadRequest{Filename: "b.txt", ContentType: "text/plain", SizeBytes: 3})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	p, got, err := e.svc.GetForSession(e.ctx, accounts, token, mine.ID)
	if err != nil {
		t.Fatalf("GetForSession of my upload: got error %v, want nil", err)
	}
	if p.User.ID != e.owner || p.Session.ID != sess.ID {
		t.Errorf("GetForSession: got user %s session %s, want %s and %s", p.User.ID, p.Session.ID, e.owner, sess.ID)
	}
	if got == nil {
		t.Fatal("GetForSession of my upload: got none")
	}
	if want := e.get(mine.ID); got.ID != want.ID || got.Status != want.Status || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("GetForSession: got upload %s (%s, %v), want %s (%s, %v)", got.ID, got.Status, got.UpdatedAt, want.ID, want.Status, want.UpdatedAt)
	}
	for name, id := range map[string]string{"another user's upload": theirs.Upload.ID, "a malformed id": "nope"} {
		p, got, err := e.svc.GetForSession(e.ctx, accounts, token, id)
		if err != nil || got != nil || p.User.ID != e.owner {
			t.Errorf("GetForSession of %s: got user %q, upload %v, error %v; want %s, none, nil", name, p.User.ID, got, err, e.owner)
		}
	}
	for name, tok := range map[string]string{"a malformed token": "not a token", "an unknown token": strings.Repeat("A", len(token))} {
		_, got, err := e.svc.GetForSession(e.ctx, accounts, tok, mine.ID)
		wantKind(t, "GetForSession with "+name, err, domain.KindUnauthenticated, domain.CodeSessionInvalid)
		if got != nil {
			t.Errorf("GetForSession with %s: got upload %s, want none", name, got.ID)
		}
	}

	// The session's use is recorded as Authenticate records it.
	e.clock.Advance(domain.DefaultSessionTouchInterval + time.Second)
	if _, _, err := e.svc.GetForSession(e.ctx, accounts, token, mine.ID); err != nil {
		t.Fatalf("GetForSession after the touch interval: %v", err)
	}
	stored, _, err := e.store.SessionByTokenHash(e.ctx, sess.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.LastSeenAt.After(sess.LastSeenAt) {
		t.Errorf("last seen: got %v, want it moved past %v", stored.LastSeenAt, sess.LastSeenAt)
	}
	// An expired session is refused even though the upload is there.
	e.clock.Advance(domain.DefaultSessionIdleTimeout + time.Second)
	_, got, err = e.svc.GetForSession(e.ctx, accounts, token, mine.ID)
	wantKind(t, "GetForSession after the idle timeout", err, domain.KindUnauthenticated, domain.CodeSessionExpired)
	if got != nil {
		t.Errorf("GetForSession after the idle timeout: got upload %s, want none", got.ID)
	}
}
