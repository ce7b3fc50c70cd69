//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/ports"
)

// TestDevS3 starts the dev stack's S3 component and uses it as a browser on
// another origin would: a preflight, then the presigned PUT the S3 adapter
// makes; refusals must be readable by the page too.
func TestDevS3(t *testing.T) {
	t.Parallel()
	r, err := devS3{}.Start(t.Context(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = r.Stop()
		}
	})
	endpoint := r.Env["S3_ENDPOINT"]
	if diff := cmp.Diff(map[string]string{"S3_BUCKET": devBucket, "S3_ENDPOINT": endpoint, "S3_USE_PATH_STYLE": "true"}, r.Env); diff != "" || !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("Env (-want +got):\n%s\nendpoint %q, want one on 127.0.0.1", diff, endpoint)
	}
	store, err := s3.New(t.Context(), s3.Config{
		Bucket: devBucket, Region: devAWSRegion, Endpoint: endpoint, UsePathStyle: true,
		UploadPrefix: "quarantine/", DownloadPrefix: "accepted/",
		Credentials: credentials.NewStaticCredentialsProvider(devS3KeyID, devS3SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Hello, gatehouse!\n")
	put, err := store.PresignPut(t.Context(), ports.PutRequest{Key: "quarantine/a", ContentType: "text/plain", Size: int64(len(body))}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "http://localhost:5173"

	cases := []struct {
		name       string
		method     string
		headers    map[string]string
		body       []byte
		wantStatus int
		want       map[string]string // response headers; "" means absent
	}{
		{
			name:   "preflight of the PUT",
			method: http.MethodOptions,
			headers: map[string]string{"Origin": origin, "Access-Control-Request-Method": "PUT",
				"Access-Control-Request-Headers": "content-type,x-amz-checksum-sha256"},
			wantStatus: http.StatusNoContent,
			want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, PUT",
				"Access-Control-Allow-Headers": "content-type,x-amz-checksum-sha256"},
		},
		{
			name:       "a PUT of another length is refused, readably",
			method:     http.MethodPut,
			headers:    map[string]string{"Origin": origin, "Content-Type": "text/plain"},
			body:       []byte("too short"),
			wantStatus: http.StatusForbidden,
			want:       map[string]string{"Access-Control-Allow-Origin": "*"},
		},
		{
			name:       "the presigned PUT",
			method:     http.MethodPut,
			headers:    map[string]string{"Origin": origin, "Content-Type": "text/plain"},
			body:       body,
			wantStatus: http.StatusOK,
			want:       map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag, x-amz-version-id, x-amz-request-id, Content-Length, Content-Disposition"},
		},
		{
			name:       "no Origin, no CORS answer",
			method:     http.MethodPut,
			headers:    map[string]string{"Content-Type": "text/plain"},
			body:       body,
			wantStatus: http.StatusOK,
			want:       map[string]string{"Access-Control-Expose-Headers": "", "Access-Control-Allow-Methods": ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, put.URL, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d: %s", resp.StatusCode, tc.wantStatus, msg)
			}
			got := map[string]string{}
			for k := range tc.want {
				got[k] = resp.Header.Get(k)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}

	info, err := store.Head(t.Context(), "quarantine/a", "")
	if err != nil || info.Size != int64(len(body)) {
		t.Errorf("Head after the PUT: got %+v, %v; want %d bytes", info, err, len(body))
	}
	stopped = true
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-r.Exited:
		t.Error("Exited is closed after Stop; want it closed only when the server stops by itself")
	default:
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := store.Head(ctx, "quarantine/a", ""); err == nil {
		t.Error("Head after Stop: got nil, want the server gone")
	}
}
