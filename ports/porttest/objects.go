package porttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// The prefixes the store under test must be configured with.
const (
	UploadPrefix   = "quarantine/"
	DownloadPrefix = "accepted/"
)

// ObjectStoreHarness is a fresh ports.ObjectStore for one subtest and what
// the suite needs to use the requests it presigns.
type ObjectStoreHarness struct {
	// Store is backed by a versioned bucket; its upload prefix is
	// UploadPrefix and its download prefix DownloadPrefix.
	Store ports.ObjectStore
	// Client sends the presigned requests to the server behind Store, on
	// 127.0.0.1.
	Client *http.Client
	// Advance moves the clock against which the server checks the expiry of
	// presigned requests.
	Advance func(time.Duration)
}

// NewObjectStore builds a fresh harness for one subtest.
type NewObjectStore func(t *testing.T) ObjectStoreHarness

// RunObjectStore runs the ports.ObjectStore contract against the
// implementation that newStore builds.
func RunObjectStore(t *testing.T, newStore NewObjectStore) {
	t.Helper()
	ctx := context.Background()
	png := func(n int) []byte { return fillBytes([]byte("\x89PNG\r\n\x1a\n"), n) }

	t.Run("a presigned PUT sent with the exact headers stores that version, as Head reports it", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-1"
		body := png(1000)
		before := time.Now()
		p, err := h.Store.PresignPut(ctx, ports.PutRequest{Key: key, ContentType: "image/png", Size: int64(len(body))}, 5*time.Minute)
		after := time.Now()
		if err != nil {
			t.Fatalf("PresignPut: %v", err)
		}
		if p.Method != http.MethodPut {
			t.Errorf("Method: got %q, want PUT", p.Method)
		}
		if got := p.Headers["Content-Type"]; got != "image/png" {
			t.Errorf("Headers[Content-Type]: got %q, want image/png (all headers %v)", got, p.Headers)
		}
		for _, hdr := range []string{"Host", "Content-Length"} {
			if _, ok := p.Headers[hdr]; ok {
				t.Errorf("Headers: got %s in %v, want it left out", hdr, p.Headers)
			}
		}
		checkPresignExpiry(t, p.ExpiresAt, before, after, 5*time.Minute)

		put := sendPresigned(t, h.Client, p, body, nil)
		if put.status != http.StatusOK {
			t.Fatalf("PUT: got status %d (%s), want 200", put.status, put.body)
		}
		version := put.header.Get("X-Amz-Version-Id")
		if version == "" {
			t.Fatalf("PUT: got no x-amz-version-id header, want one (the bucket is versioned)")
		}
		info, err := h.Store.Head(ctx, key, version)
		if err != nil {
			t.Fatalf("Head: %v", err)
		}
		want := ports.ObjectInfo{Bucket: info.Bucket, Key: key, VersionID: version, ETag: strings.Trim(put.header.Get("ETag"), `"`),
			Size: int64(len(body)), ContentType: "image/png", LastModified: info.LastModified}
		if d := cmp.Diff(info, want); d != "" {
			t.Errorf("Head (-got +want):\n%s", d)
		}
		if info.Bucket == "" || info.ETag == "" || info.LastModified.IsZero() {
			t.Errorf("Head: got bucket %q, ETag %q, LastModified %v; want all set", info.Bucket, info.ETag, info.LastModified)
		}
		current, err := h.Store.Head(ctx, key, "")
		if err != nil {
			t.Fatalf("Head of the current version: %v", err)
		}
		if d := cmp.Diff(current, info); d != "" {
			t.Errorf("Head of the current version (-got +want):\n%s", d)
		}
	})

	refused := []struct {
		name       string
		body       []byte
		mutate     func(*http.Request)
		wantStatus int
	}{
		{"a PUT of a longer body than declared is refused by the signature", png(1001), nil, http.StatusForbidden},
		{"a PUT of a shorter body than declared is refused by the signature", png(999), nil, http.StatusForbidden},
		{"a PUT with another Content-Type is refused by the signature", png(1000),
			func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, http.StatusForbidden},
		{"a PUT without the Content-Type header is refused by the signature", png(1000),
			func(r *http.Request) { r.Header.Del("Content-Type") }, http.StatusForbidden},
		{"a PUT to a tampered URL is refused", png(1000),
			func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "obj-2", "obj-3", 1) }, http.StatusForbidden},
	}
	for _, tc := range refused {
		t.Run(tc.name+" and stores nothing", func(t *testing.T) {
			t.Parallel()
			h := newStore(t)
			key := UploadPrefix + "obj-2"
			p, err := h.Store.PresignPut(ctx, ports.PutRequest{Key: key, ContentType: "image/png", Size: 1000}, 5*time.Minute)
			if err != nil {
				t.Fatalf("PresignPut: %v", err)
			}
			if put := sendPresigned(t, h.Client, p, tc.body, tc.mutate); put.status != tc.wantStatus {
				t.Errorf("PUT: got status %d (%s), want %d", put.status, put.body, tc.wantStatus)
			}
			for _, k := range []string{key, UploadPrefix + "obj-3"} {
				if _, err := h.Store.Head(ctx, k, ""); !domain.IsKind(err, domain.KindNotFound) {
					t.Errorf("Head(%q) after the refused PUT: got %v, want kind %v", k, err, domain.KindNotFound)
				}
			}
		})
	}

	t.Run("with a declared SHA-256 the PUT must send it and the body must match it", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-sha"
		body := png(300)
		sum := sha256.Sum256(body)
		p, err := h.Store.PresignPut(ctx, ports.PutRequest{Key: key, ContentType: "image/png", Size: int64(len(body)), SHA256: sum[:]}, 5*time.Minute)
		if err != nil {
			t.Fatalf("PresignPut: %v", err)
		}
		if got, want := p.Headers["X-Amz-Checksum-Sha256"], base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("Headers[X-Amz-Checksum-Sha256]: got %q, want %q (all headers %v)", got, want, p.Headers)
		}
		other := bytes.Clone(body)
		other[len(other)-1] ^= 0xff
		attempts := []struct {
			what       string
			body       []byte
			mutate     func(*http.Request)
			wantStatus int
		}{
			{"a body of the right length but another digest", other, nil, http.StatusBadRequest},
			{"a PUT without the checksum header", body, func(r *http.Request) { r.Header.Del("X-Amz-Checksum-Sha256") }, http.StatusForbidden},
		}
		for _, a := range attempts {
			if put := sendPresigned(t, h.Client, p, a.body, a.mutate); put.status != a.wantStatus {
				t.Errorf("%s: got status %d (%s), want %d", a.what, put.status, put.body, a.wantStatus)
			}
			if _, err := h.Store.Head(ctx, key, ""); !domain.IsKind(err, domain.KindNotFound) {
				t.Errorf("Head after %s: got %v, want kind %v", a.what, err, domain.KindNotFound)
			}
		}
		if put := sendPresigned(t, h.Client, p, body, nil); put.status != http.StatusOK {
			t.Fatalf("PUT of the declared bytes: got status %d (%s), want 200", put.status, put.body)
		}
		got, err := h.Store.ReadLeading(ctx, key, "", len(body))
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("ReadLeading: got %d bytes, %v; want the %d bytes put", len(got), err, len(body))
		}
	})

	t.Run("an expired presigned PUT is refused", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-late"
		p, err := h.Store.PresignPut(ctx, ports.PutRequest{Key: key, ContentType: "text/plain", Size: 5}, time.Minute)
		if err != nil {
			t.Fatalf("PresignPut: %v", err)
		}
		h.Advance(2 * time.Minute)
		if put := sendPresigned(t, h.Client, p, []byte("hello"), nil); put.status != http.StatusForbidden {
			t.Errorf("PUT after expiry: got status %d (%s), want 403", put.status, put.body)
		}
		if _, err := h.Store.Head(ctx, key, ""); !domain.IsKind(err, domain.KindNotFound) {
			t.Errorf("Head: got %v, want kind %v", err, domain.KindNotFound)
		}
	})

	sha := sha256.Sum256(nil)
	invalidPuts := []struct {
		name    string
		req     ports.PutRequest
		expires time.Duration
	}{
		{"a key in the download area", ports.PutRequest{Key: DownloadPrefix + "x", ContentType: "image/png", Size: 1}, time.Minute},
		{"a key outside both areas", ports.PutRequest{Key: "elsewhere/x", ContentType: "image/png", Size: 1}, time.Minute},
		{"a key that climbs out of the upload area", ports.PutRequest{Key: UploadPrefix + "../" + DownloadPrefix + "x", ContentType: "image/png", Size: 1}, time.Minute},
		{"the bare upload prefix", ports.PutRequest{Key: UploadPrefix, ContentType: "image/png", Size: 1}, time.Minute},
		{"a key with an empty segment", ports.PutRequest{Key: UploadPrefix + "a//b", ContentType: "image/png", Size: 1}, time.Minute},
		{"a key with a control character", ports.PutRequest{Key: UploadPrefix + "a\nb", ContentType: "image/png", Size: 1}, time.Minute},
		{"an empty content type", ports.PutRequest{Key: UploadPrefix + "x", Size: 1}, time.Minute},
		{"a malformed content type", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png\r\nX-Evil: 1", Size: 1}, time.Minute},
		{"a size of zero", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png", Size: 0}, time.Minute},
		{"a negative size", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png", Size: -1}, time.Minute},
		{"a size above the single-PUT limit", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png", Size: ports.MaxPutSize + 1}, time.Minute},
		{"a digest that is not 32 bytes", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png", Size: 1, SHA256: sha[:31]}, time.Minute},
		{"an expiry below one second", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png", Size: 1}, 0},
		{"an expiry above seven days", ports.PutRequest{Key: UploadPrefix + "x", ContentType: "image/png", Size: 1}, ports.MaxPresignExpiry + time.Second},
	}
	for _, tc := range invalidPuts {
		t.Run("PresignPut refuses "+tc.name+" as invalid", func(t *testing.T) {
			t.Parallel()
			h := newStore(t)
			p, err := h.Store.PresignPut(ctx, tc.req, tc.expires)
			if !domain.IsKind(err, domain.KindInvalid) {
				t.Errorf("PresignPut(%+v, %v): got %+v, %v; want kind %v", tc.req, tc.expires, p, err, domain.KindInvalid)
			}
		})
	}

	t.Run("Head, ReadLeading and ScanTag of a missing object are not found", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "missing"
		_, err := h.Store.Head(ctx, key, "")
		checkObjectKind(t, "Head", err, domain.KindNotFound)
		_, err = h.Store.ReadLeading(ctx, key, "", 8)
		checkObjectKind(t, "ReadLeading", err, domain.KindNotFound)
		_, err = h.Store.ScanTag(ctx, key, "")
		checkObjectKind(t, "ScanTag", err, domain.KindNotFound)
		checkObjectKind(t, "SetScanTag", h.Store.SetScanTag(ctx, key, "", "NO_THREATS_FOUND"), domain.KindNotFound)
		_, err = h.Store.Copy(ctx, key, "", DownloadPrefix+"missing")
		checkObjectKind(t, "Copy", err, domain.KindNotFound)
	})

	t.Run("an overwritten key keeps its old version, which Head and ReadLeading still read", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-v"
		v1 := putObject(t, h, key, "text/plain", []byte("first version, the one that was scanned"))
		v2 := putObject(t, h, key, "image/png", png(64))
		if v1.VersionID == v2.VersionID {
			t.Fatalf("both PUTs report version %q, want two versions", v1.VersionID)
		}
		for _, tc := range []struct {
			version string
			want    ports.ObjectInfo
			bytes   string
		}{
			{v1.VersionID, v1, "first"},
			{v2.VersionID, v2, "\x89PNG"},
			{"", v2, "\x89PNG"},
		} {
			got, err := h.Store.Head(ctx, key, tc.version)
			if err != nil {
				t.Fatalf("Head(%q): %v", tc.version, err)
			}
			if d := cmp.Diff(got, tc.want); d != "" {
				t.Errorf("Head(%q) (-got +want):\n%s", tc.version, d)
			}
			lead, err := h.Store.ReadLeading(ctx, key, tc.version, len(tc.bytes))
			if err != nil || string(lead) != tc.bytes {
				t.Errorf("ReadLeading(%q, %d): got %q, %v; want %q", tc.version, len(tc.bytes), lead, err, tc.bytes)
			}
		}
		// A version that belongs to another key does not exist for this one.
		other := putObject(t, h, UploadPrefix+"obj-other", "text/plain", []byte("other"))
		_, err := h.Store.Head(ctx, key, other.VersionID)
		checkObjectKind(t, "Head with another key's version", err, domain.KindNotFound)
	})

	t.Run("ReadLeading returns at most n leading bytes and refuses n outside 1..MaxReadLeading", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-lead"
		body := []byte("%PDF-1.7\nrest of the document")
		info := putObject(t, h, key, "application/pdf", body)
		for _, n := range []int{1, 5, len(body), len(body) + 100} {
			got, err := h.Store.ReadLeading(ctx, key, info.VersionID, n)
			if want := body[:min(n, len(body))]; err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadLeading(n=%d): got %q, %v; want %q", n, got, err, want)
			}
		}
		for _, n := range []int{0, -1, ports.MaxReadLeading + 1} {
			_, err := h.Store.ReadLeading(ctx, key, info.VersionID, n)
			checkObjectKind(t, fmt.Sprintf("ReadLeading(n=%d)", n), err, domain.KindInvalid)
		}
	})

	t.Run("Copy copies exactly the given version, without tags, even after the key was overwritten", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		src, dst := UploadPrefix+"obj-c", DownloadPrefix+"obj-c"
		old := []byte("GIF89a the bytes that were scanned clean")
		v1 := putObject(t, h, src, "image/gif", old)
		if err := h.Store.SetScanTag(ctx, src, v1.VersionID, "NO_THREATS_FOUND"); err != nil {
			t.Fatalf("SetScanTag: %v", err)
		}
		putObject(t, h, src, "image/gif", []byte("GIF89a bytes put after the scan"))

		got, err := h.Store.Copy(ctx, src, v1.VersionID, dst)
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		want := ports.ObjectInfo{Bucket: v1.Bucket, Key: dst, VersionID: got.VersionID, ETag: v1.ETag,
			Size: v1.Size, ContentType: "image/gif", LastModified: got.LastModified}
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("Copy (-got +want):\n%s", d)
		}
		if got.VersionID == "" {
			t.Errorf("Copy: got no version ID, want the new version's")
		}
		head, err := h.Store.Head(ctx, dst, got.VersionID)
		if err != nil {
			t.Fatalf("Head of the copy: %v", err)
		}
		if d := cmp.Diff(head, got); d != "" {
			t.Errorf("Head of the copy (-got +want):\n%s", d)
		}
		if lead, err := h.Store.ReadLeading(ctx, dst, got.VersionID, 1000); err != nil || !bytes.Equal(lead, old) {
			t.Errorf("ReadLeading of the copy: got %q, %v; want %q", lead, err, old)
		}
		if tag, err := h.Store.ScanTag(ctx, dst, got.VersionID); err != nil || tag != "" {
			t.Errorf("ScanTag of the copy: got %q, %v; want no tag", tag, err)
		}
		_, err = h.Store.Copy(ctx, src, "", DownloadPrefix+"obj-c2")
		if err != nil {
			t.Fatalf("Copy of the current version: %v", err)
		}
		if lead, err := h.Store.ReadLeading(ctx, DownloadPrefix+"obj-c2", "", 1000); err != nil || string(lead) != "GIF89a bytes put after the scan" {
			t.Errorf("ReadLeading of the copy of the current version: got %q, %v", lead, err)
		}
	})

	t.Run("Delete removes every version of the key and nothing else", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-d"
		v1 := putObject(t, h, key, "text/plain", []byte("one"))
		v2 := putObject(t, h, key, "text/plain", []byte("two"))
		sibling := putObject(t, h, key+"x", "text/plain", []byte("sibling"))
		if err := h.Store.Delete(ctx, key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		for _, v := range []string{"", v1.VersionID, v2.VersionID} {
			_, err := h.Store.Head(ctx, key, v)
			checkObjectKind(t, fmt.Sprintf("Head(%q) after Delete", v), err, domain.KindNotFound)
			_, err = h.Store.ReadLeading(ctx, key, v, 3)
			checkObjectKind(t, fmt.Sprintf("ReadLeading(%q) after Delete", v), err, domain.KindNotFound)
		}
		if got, err := h.Store.Head(ctx, sibling.Key, sibling.VersionID); err != nil {
			t.Errorf("Head of a key that merely starts with the deleted one: got %v, want it kept", err)
		} else if d := cmp.Diff(got, sibling); d != "" {
			t.Errorf("Head of a key that merely starts with the deleted one (-got +want):\n%s", d)
		}
		if err := h.Store.Delete(ctx, key); err != nil {
			t.Errorf("Delete of a key already deleted: got %v, want nil", err)
		}
		if err := h.Store.Delete(ctx, UploadPrefix+"never-existed"); err != nil {
			t.Errorf("Delete of a key that never existed: got %v, want nil", err)
		}
	})

	t.Run("the scan tag is per version and absent until set", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		key := UploadPrefix + "obj-t"
		v1 := putObject(t, h, key, "text/plain", []byte("one"))
		v2 := putObject(t, h, key, "text/plain", []byte("two"))
		if tag, err := h.Store.ScanTag(ctx, key, v1.VersionID); err != nil || tag != "" {
			t.Errorf("ScanTag before tagging: got %q, %v; want \"\", nil", tag, err)
		}
		steps := []struct{ version, value string }{{v1.VersionID, "THREATS_FOUND"}, {v2.VersionID, "NO_THREATS_FOUND"}, {v1.VersionID, "FAILED"}}
		for _, s := range steps {
			if err := h.Store.SetScanTag(ctx, key, s.version, s.value); err != nil {
				t.Fatalf("SetScanTag(%q, %q): %v", s.version, s.value, err)
			}
		}
		for _, tc := range []struct{ version, want string }{{v1.VersionID, "FAILED"}, {v2.VersionID, "NO_THREATS_FOUND"}, {"", "NO_THREATS_FOUND"}} {
			if tag, err := h.Store.ScanTag(ctx, key, tc.version); err != nil || tag != tc.want {
				t.Errorf("ScanTag(%q): got %q, %v; want %q", tc.version, tag, err, tc.want)
			}
		}
	})

	t.Run("a presigned GET downloads that version as an attachment of the validated type", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		src, dst := UploadPrefix+"obj-g", DownloadPrefix+"obj-g"
		first, second := []byte("%PDF-1.4 first"), []byte("%PDF-1.4 second, longer")
		putObject(t, h, src, "application/octet-stream", first)
		c1, err := h.Store.Copy(ctx, src, "", dst)
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		putObject(t, h, src, "application/octet-stream", second)
		if _, err := h.Store.Copy(ctx, src, "", dst); err != nil {
			t.Fatalf("Copy: %v", err)
		}
		for _, tc := range []struct {
			version, filename string
			want              []byte
		}{
			{c1.VersionID, `résumé "final".pdf`, first},
			{"", "report.pdf", second},
		} {
			before := time.Now()
			p, err := h.Store.PresignGet(ctx, ports.GetRequest{Key: dst, VersionID: tc.version, Filename: tc.filename, ContentType: "application/pdf"}, 2*time.Minute)
			after := time.Now()
			if err != nil {
				t.Fatalf("PresignGet: %v", err)
			}
			if p.Method != http.MethodGet {
				t.Errorf("Method: got %q, want GET", p.Method)
			}
			checkPresignExpiry(t, p.ExpiresAt, before, after, 2*time.Minute)
			get := sendPresigned(t, h.Client, p, nil, nil)
			if get.status != http.StatusOK || !bytes.Equal(get.body, tc.want) {
				t.Fatalf("GET version %q: got status %d, body %q; want 200, %q", tc.version, get.status, get.body, tc.want)
			}
			if got := get.header.Get("Content-Type"); got != "application/pdf" {
				t.Errorf("Content-Type: got %q, want application/pdf", got)
			}
			cd := get.header.Get("Content-Disposition")
			if want := ports.AttachmentDisposition(tc.filename); cd != want {
				t.Errorf("Content-Disposition: got %q, want %q", cd, want)
			}
			if disp, params, err := mime.ParseMediaType(cd); err != nil || disp != "attachment" || params["filename"] != tc.filename {
				t.Errorf("Content-Disposition parses as %q %q, %v; want attachment with filename %q", disp, params, err, tc.filename)
			}
		}
	})

	t.Run("a presigned GET whose response parameters were changed is refused", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		putObject(t, h, UploadPrefix+"obj-x", "text/plain", []byte("hello"))
		dst := DownloadPrefix + "obj-x"
		if _, err := h.Store.Copy(ctx, UploadPrefix+"obj-x", "", dst); err != nil {
			t.Fatalf("Copy: %v", err)
		}
		p, err := h.Store.PresignGet(ctx, ports.GetRequest{Key: dst, Filename: "a.txt", ContentType: "text/plain"}, time.Minute)
		if err != nil {
			t.Fatalf("PresignGet: %v", err)
		}
		get := sendPresigned(t, h.Client, p, nil, func(r *http.Request) {
			q := r.URL.Query()
			q.Set("response-content-type", "text/html")
			q.Set("response-content-disposition", "inline")
			r.URL.RawQuery = q.Encode()
		})
		if get.status != http.StatusForbidden {
			t.Errorf("GET with changed response parameters: got status %d (%s), want 403", get.status, get.body)
		}
	})

	t.Run("an expired presigned GET is refused", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		putObject(t, h, UploadPrefix+"obj-e", "text/plain", []byte("hello"))
		dst := DownloadPrefix + "obj-e"
		if _, err := h.Store.Copy(ctx, UploadPrefix+"obj-e", "", dst); err != nil {
			t.Fatalf("Copy: %v", err)
		}
		p, err := h.Store.PresignGet(ctx, ports.GetRequest{Key: dst, Filename: "a.txt", ContentType: "text/plain"}, time.Minute)
		if err != nil {
			t.Fatalf("PresignGet: %v", err)
		}
		h.Advance(2 * time.Minute)
		if get := sendPresigned(t, h.Client, p, nil, nil); get.status != http.StatusForbidden {
			t.Errorf("GET after expiry: got status %d (%s), want 403", get.status, get.body)
		}
	})

	invalidGets := []struct {
		name    string
		req     ports.GetRequest
		expires time.Duration
	}{
		{"a key in the upload area", ports.GetRequest{Key: UploadPrefix + "x", Filename: "a", ContentType: "text/plain"}, time.Minute},
		{"a key outside both areas", ports.GetRequest{Key: "elsewhere/x", Filename: "a", ContentType: "text/plain"}, time.Minute},
		{"a key that climbs out of the download area", ports.GetRequest{Key: DownloadPrefix + "../" + UploadPrefix + "x", Filename: "a", ContentType: "text/plain"}, time.Minute},
		{"an empty content type", ports.GetRequest{Key: DownloadPrefix + "x", Filename: "a"}, time.Minute},
		{"a malformed content type", ports.GetRequest{Key: DownloadPrefix + "x", Filename: "a", ContentType: "text/plain\nX: y"}, time.Minute},
		{"an expiry below one second", ports.GetRequest{Key: DownloadPrefix + "x", Filename: "a", ContentType: "text/plain"}, time.Millisecond},
		{"an expiry above seven days", ports.GetRequest{Key: DownloadPrefix + "x", Filename: "a", ContentType: "text/plain"}, ports.MaxPresignExpiry + time.Second},
	}
	for _, tc := range invalidGets {
		t.Run("PresignGet refuses "+tc.name+" as invalid", func(t *testing.T) {
			t.Parallel()
			h := newStore(t)
			p, err := h.Store.PresignGet(ctx, tc.req, tc.expires)
			if !domain.IsKind(err, domain.KindInvalid) {
				t.Errorf("PresignGet(%+v, %v): got %+v, %v; want kind %v", tc.req, tc.expires, p, err, domain.KindInvalid)
			}
		})
	}

	t.Run("a cancelled context fails with a retryable error wrapping context.Canceled", func(t *testing.T) {
		t.Parallel()
		h := newStore(t)
		info := putObject(t, h, UploadPrefix+"obj-ctx", "text/plain", []byte("hello"))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		calls := map[string]error{}
		_, calls["Head"] = h.Store.Head(cctx, info.Key, info.VersionID)
		_, calls["ReadLeading"] = h.Store.ReadLeading(cctx, info.Key, info.VersionID, 3)
		_, calls["Copy"] = h.Store.Copy(cctx, info.Key, info.VersionID, DownloadPrefix+"obj-ctx")
		_, calls["ScanTag"] = h.Store.ScanTag(cctx, info.Key, info.VersionID)
		calls["SetScanTag"] = h.Store.SetScanTag(cctx, info.Key, info.VersionID, "FAILED")
		calls["Delete"] = h.Store.Delete(cctx, info.Key)
		for name, err := range calls {
			if !domain.IsKind(err, domain.KindUnavailable) || !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v (kind %v), want kind %v wrapping context.Canceled", name, err, domain.KindOf(err), domain.KindUnavailable)
			}
		}
		if got, err := h.Store.Head(ctx, info.Key, info.VersionID); err != nil {
			t.Errorf("Head after the cancelled calls: got %v, want the object unchanged", err)
		} else if d := cmp.Diff(got, info); d != "" {
			t.Errorf("Head after the cancelled calls (-got +want):\n%s", d)
		}
	})
}

// putObject puts body under key through a presigned PUT and returns the version
// it created, as Head reports it.
func putObject(t *testing.T, h ObjectStoreHarness, key, contentType string, body []byte) ports.ObjectInfo {
	t.Helper()
	ctx := context.Background()
	p, err := h.Store.PresignPut(ctx, ports.PutRequest{Key: key, ContentType: contentType, Size: int64(len(body))}, 5*time.Minute)
	if err != nil {
		t.Fatalf("PresignPut(%q): %v", key, err)
	}
	put := sendPresigned(t, h.Client, p, body, nil)
	if put.status != http.StatusOK {
		t.Fatalf("PUT %q: got status %d (%s), want 200", key, put.status, put.body)
	}
	info, err := h.Store.Head(ctx, key, put.header.Get("X-Amz-Version-Id"))
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	return info
}

type presignedResponse struct {
	status int
	header http.Header
	body   []byte
}

// sendPresigned sends the presigned request p with its headers and body, after mutate
// (if not nil) has changed it.
func sendPresigned(t *testing.T, c *http.Client, p ports.PresignedRequest, body []byte, mutate func(*http.Request)) presignedResponse {
	t.Helper()
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatalf("presigned URL %q: %v", p.URL, err)
	}
	if host := u.Hostname(); host != "127.0.0.1" {
		t.Fatalf("presigned URL host %q: the suite only talks to 127.0.0.1", host)
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(p.Method, p.URL, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", p.Method, p.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", p.Method, p.URL, err)
	}
	return presignedResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// checkPresignExpiry checks that at is expires after the presigning, which happened
// between before and after (signatures count whole seconds).
func checkPresignExpiry(t *testing.T, at, before, after time.Time, expires time.Duration) {
	t.Helper()
	lo, hi := before.Add(expires).Truncate(time.Second), after.Add(expires)
	if at.Before(lo) || at.After(hi) {
		t.Errorf("ExpiresAt: got %v, want between %v and %v", at, lo, hi)
	}
}

func checkObjectKind(t *testing.T, what string, err error, want domain.Kind) {
	t.Helper()
	if !domain.IsKind(err, want) {
		t.Errorf("%s: got %v (kind %v), want kind %v", what, err, domain.KindOf(err), want)
	}
}

// fillBytes returns prefix followed by filler bytes, n bytes in all.
func fillBytes(prefix []byte, n int) []byte {
	b := make([]byte, n)
	copy(b, prefix)
	for i := len(prefix); i < n; i++ {
		b[i] = byte('a' + i%26)
	}
	return b
}
