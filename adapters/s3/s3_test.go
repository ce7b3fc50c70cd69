package s3_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/adapters/s3/s3local"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

const (
	testBucket = "gatehouse-test"
	testRegion = "eu-west-1"
	testKeyID  = "AKIDGATEHOUSETEST"
	testSecret = "gatehouse/test/secret/access/key"
)

var testCreds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}

// offsetClock is the real time plus an offset that tests can grow, so that
// presigned URLs can expire without sleeping.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// newLocalS3 serves gofakes3, through s3local (signature checks, tagging,
// version-exact HEAD and copy), on 127.0.0.1.
func newLocalS3(t *testing.T) (*httptest.Server, *offsetClock) {
	t.Helper()
	clock := &offsetClock{}
	srv, err := s3local.New(s3local.Config{Buckets: []string{testBucket}, Region: testRegion, Credentials: testCreds, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, clock
}

func testConfig(endpoint string) s3.Config {
	return s3.Config{
		Bucket:           testBucket,
		Region:           testRegion,
		Endpoint:         endpoint,
		UsePathStyle:     true,
		UploadPrefix:     porttest.UploadPrefix,
		DownloadPrefix:   porttest.DownloadPrefix,
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		RetryMaxAttempts: 1,
	}
}

func newStore(t *testing.T, cfg s3.Config) *s3.ObjectStore {
	t.Helper()
	store, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return store
}

// sdkClient talks to the local server directly, to set up what the store
// cannot (delete markers) and to look at the result.
func sdkClient(endpoint string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:                     testRegion,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func TestObjectStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunObjectStore(t, func(t *testing.T) porttest.ObjectStoreHarness {
		ts, clock := newLocalS3(t)
		return porttest.ObjectStoreHarness{Store: newStore(t, testConfig(ts.URL)), Client: ts.Client(), Advance: clock.Advance}
	})
}

func TestPresignPutSignsLengthTypeAndChecksum(t *testing.T) {
	t.Parallel()
	store := newStore(t, testConfig("http://127.0.0.1:9"))
	sum := sha256.Sum256([]byte("hello"))
	cases := []struct {
		name              string
		sha               []byte
		wantSignedHeaders string
		wantHeaders       map[string]string
	}{
		{"without a digest, Content-Length and Content-Type are signed", nil,
			"content-length;content-type;host", map[string]string{"Content-Type": "text/plain"}},
		{"with a digest, x-amz-checksum-sha256 is signed as a header too", sum[:],
			"content-length;content-type;host;x-amz-checksum-sha256",
			map[string]string{"Content-Type": "text/plain", "X-Amz-Checksum-Sha256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := store.PresignPut(context.Background(), ports.PutRequest{Key: porttest.UploadPrefix + "k 1", ContentType: "text/plain", Size: 5, SHA256: tc.sha}, 5*time.Minute)
			if err != nil {
				t.Fatalf("PresignPut: %v", err)
			}
			u, err := url.Parse(p.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if got := q.Get("X-Amz-SignedHeaders"); got != tc.wantSignedHeaders {
				t.Errorf("X-Amz-SignedHeaders: got %q, want %q", got, tc.wantSignedHeaders)
			}
			for k := range q {
				if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") || strings.HasPrefix(strings.ToLower(k), "x-amz-sdk-checksum") {
					t.Errorf("query parameter %s: got it in the URL, want checksums only as signed headers", k)
				}
			}
			if got, want := q.Get("X-Amz-Expires"), "300"; got != want {
				t.Errorf("X-Amz-Expires: got %q, want %q", got, want)
			}
			if got, want := u.EscapedPath(), "/"+testBucket+"/quarantine/k%201"; got != want {
				t.Errorf("path: got %q, want the path-style %q", got, want)
			}
			if d := cmp.Diff(p.Headers, tc.wantHeaders); d != "" {
				t.Errorf("Headers (-got +want):\n%s", d)
			}
		})
	}
}

func TestPresignGetURL(t *testing.T) {
	t.Parallel()
	store := newStore(t, testConfig("http://127.0.0.1:9"))
	p, err := store.PresignGet(context.Background(), ports.GetRequest{Key: porttest.DownloadPrefix + "k", VersionID: "v/1+2", Filename: `résumé "final".pdf`, ContentType: "application/pdf"}, 5*time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{
		"X-Amz-SignedHeaders":          "host",
		"X-Amz-Expires":                "300",
		"versionId":                    "v/1+2",
		"response-content-type":        "application/pdf",
		"response-content-disposition": `attachment; filename="r_sum_ final.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`,
	}
	for k, w := range want {
		if got := q.Get(k); got != w {
			t.Errorf("query %s: got %q, want %q", k, got, w)
		}
	}
	if p.Method != http.MethodGet || len(p.Headers) != 0 {
		t.Errorf("got method %q, headers %v; want GET and no headers", p.Method, p.Headers)
	}
}

func TestDeleteRemovesDeleteMarkers(t *testing.T) {
	t.Parallel()
	ts, _ := newLocalS3(t)
	store := newStore(t, testConfig(ts.URL))
	client := sdkClient(ts.URL)
	ctx := context.Background()
	key := porttest.UploadPrefix + "marked"
	for _, body := range []string{"one", "two"} {
		if _, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
	}
	// A delete without a version only adds a marker on a versioned bucket.
	if _, err := client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if got := versionsOf(t, client, key); got != 3 {
		t.Fatalf("before Delete: got %d versions and markers, want 3", got)
	}
	if err := store.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := versionsOf(t, client, key); got != 0 {
		t.Errorf("after Delete: got %d versions and markers, want 0", got)
	}
}

func versionsOf(t *testing.T, client *awss3.Client, key string) int {
	t.Helper()
	out, err := client.ListObjectVersions(context.Background(), &awss3.ListObjectVersionsInput{Bucket: aws.String(testBucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("ListObjectVersions: %v", err)
	}
	return len(out.Versions) + len(out.DeleteMarkers)
}

// TestErrorKinds runs the store against a stand-in that answers every
// request with one canned S3 error.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		status       int
		code         string
		wantKind     domain.Kind
		wantInternal string // part of the error text, for the kinds an operator must act on
	}{
		{"throttling (503 SlowDown) is unavailable", http.StatusServiceUnavailable, "SlowDown", domain.KindUnavailable, ""},
		{"a server error is unavailable", http.StatusInternalServerError, "InternalError", domain.KindUnavailable, ""},
		{"too many requests is unavailable", http.StatusTooManyRequests, "TooManyRequests", domain.KindUnavailable, ""},
		{"a request timeout is unavailable", http.StatusBadRequest, "RequestTimeout", domain.KindUnavailable, ""},
		{"a missing key is not found", http.StatusNotFound, "NoSuchKey", domain.KindNotFound, ""},
		{"a missing version is not found", http.StatusNotFound, "NoSuchVersion", domain.KindNotFound, ""},
		{"access denied is internal and says what to check", http.StatusForbidden, "AccessDenied", domain.KindInternal, "check the credentials"},
		{"a bad signature is internal", http.StatusForbidden, "SignatureDoesNotMatch", domain.KindInternal, "check the credentials"},
		{"a missing bucket is internal and names it", http.StatusNotFound, "NoSuchBucket", domain.KindInternal, `bucket "gatehouse-test" does not exist`},
		{"an unexpected client error is internal", http.StatusBadRequest, "InvalidArgument", domain.KindInternal, "InvalidArgument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>canned</Message></Error>`, tc.code)
			}))
			t.Cleanup(ts.Close)
			store := newStore(t, testConfig(ts.URL))
			_, err := store.ReadLeading(context.Background(), porttest.UploadPrefix+"k", "v1", 8)
			if got := domain.KindOf(err); err == nil || got != tc.wantKind {
				t.Fatalf("ReadLeading: got %v (kind %v), want kind %v", err, got, tc.wantKind)
			}
			if tc.wantInternal != "" && !strings.Contains(err.Error(), tc.wantInternal) {
				t.Errorf("error text %q: want it to contain %q", err, tc.wantInternal)
			}
		})
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answer only once the client has given up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); ts.Close() })
	cfg := testConfig(ts.URL)
	cfg.Timeout = 50 * time.Millisecond
	store := newStore(t, cfg)
	_, err := store.Head(context.Background(), porttest.UploadPrefix+"k", "")
	if !domain.IsKind(err, domain.KindUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Head against a server that does not answer: got %v (kind %v), want kind %v wrapping context.DeadlineExceeded",
			err, domain.KindOf(err), domain.KindUnavailable)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*s3.Config)
	}{
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }},
		{"no region", func(c *s3.Config) { c.Region = "" }},
		{"no upload prefix", func(c *s3.Config) { c.UploadPrefix = "" }},
		{"no download prefix", func(c *s3.Config) { c.DownloadPrefix = "" }},
		{"a prefix without a trailing slash", func(c *s3.Config) { c.UploadPrefix = "quarantine" }},
		{"the download area inside the upload area", func(c *s3.Config) { c.UploadPrefix, c.DownloadPrefix = "uploads/", "uploads/accepted/" }},
		{"the upload area inside the download area", func(c *s3.Config) { c.UploadPrefix, c.DownloadPrefix = "files/quarantine/", "files/" }},
		{"the same area twice", func(c *s3.Config) { c.DownloadPrefix = c.UploadPrefix }},
		{"an endpoint that is not an http URL", func(c *s3.Config) { c.Endpoint = "127.0.0.1:9000" }},
		{"a negative timeout", func(c *s3.Config) { c.Timeout = -time.Second }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("http://127.0.0.1:9")
			tc.mutate(&cfg)
			if _, err := s3.New(context.Background(), cfg); err == nil {
				t.Errorf("New(%+v): got no error, want one", cfg)
			}
		})
	}
}

// An empty object cannot come through a presigned PUT (sizes start at 1),
// but one put by other means must not make ReadLeading fail: S3 answers 416
// to any range of it.
func TestReadLeadingOfAnEmptyObject(t *testing.T) {
	t.Parallel()
	ts, _ := newLocalS3(t)
	store := newStore(t, testConfig(ts.URL))
	ctx := context.Background()
	key := porttest.UploadPrefix + "empty"
	if _, err := sdkClient(ts.URL).PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: strings.NewReader("")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	cases := []struct {
		name     string
		key      string
		wantErr  bool
		wantKind domain.Kind
	}{
		{"an empty object reads as no bytes", key, false, 0},
		{"a missing object is still not found", porttest.UploadPrefix + "missing", true, domain.KindNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.ReadLeading(ctx, tc.key, "", 16)
			switch {
			case tc.wantErr && !domain.IsKind(err, tc.wantKind):
				t.Errorf("ReadLeading: got %q, %v; want kind %v", got, err, tc.wantKind)
			case !tc.wantErr && (err != nil || got == nil || len(got) != 0):
				t.Errorf("ReadLeading: got %q (nil: %v), %v; want an empty slice", got, got == nil, err)
			}
		})
	}
}
