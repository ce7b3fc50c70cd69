package s3_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// presignKeys are key suffixes that escaping gets wrong in one way or
// another: reserved and sub-delimiter characters, percent signs that must
// not be decoded, non-ASCII, several segments, and the longest key.
var presignKeys = []string{
	"plain-0196f0c2_7a3e.bin",
	"with space",
	"unicode/résumé 日本語 🙂.pdf",
	"plus+sign",
	"per%cent%2Fnot-a-slash%zz",
	"tilde~",
	"eq=amp&question?hash#",
	"several/levels/of/segments/file.txt",
	"sub-delims!$'()*,;:@[]",
	strings.Repeat("k", 1024-max(len(porttest.UploadPrefix), len(porttest.DownloadPrefix))),
}

// presignSetups are the store configurations the SDK presigns differently
// from each other: custom endpoints path-style and virtual-hosted (with and
// without a base path, on an IP address, on a default port), AWS's regional
// endpoints, buckets with dots, and an access point.
var presignSetups = []struct {
	name, bucket, region, endpoint string
	pathStyle                      bool
}{
	{"custom endpoint on an IP address, path-style", testBucket, testRegion, "http://127.0.0.1:9000", true},
	{"custom endpoint on an IP address, virtual-hosted asked", testBucket, testRegion, "http://127.0.0.1:9000", false},
	{"custom endpoint, virtual-hosted", testBucket, testRegion, "http://minio.test:9000", false},
	{"custom endpoint with a base path, path-style", testBucket, testRegion, "https://storage.test/s3", true},
	{"custom endpoint with a base path, virtual-hosted", testBucket, testRegion, "https://storage.test/s3/", false},
	{"custom endpoint on the default port", testBucket, testRegion, "https://storage.test:443", true},
	{"custom endpoint, bucket with dots", "media.example.test", testRegion, "http://minio.test:9000", false},
	{"AWS regional endpoint, virtual-hosted", testBucket, testRegion, "", false},
	{"AWS regional endpoint, path-style", testBucket, testRegion, "", true},
	{"AWS us-east-1", testBucket, "us-east-1", "", false},
	{"AWS, bucket with dots", "media.example.test", testRegion, "", false},
	{"AWS access point", "arn:aws:s3:eu-west-1:123456789012:accesspoint/uploads", testRegion, "", false},
}

// TestPresignMatchesSDK presigns the same requests by hand and with the
// SDK's presign client, at the same second, and wants the same URL, headers
// and expiry, for every setup, with and without a session token.
func TestPresignMatchesSDK(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("hello"))
	creds := []struct{ name, token string }{{"static credentials", ""}, {"session token", "FwoGZXIvYXdzE+token/with=specials"}}
	for _, setup := range presignSetups {
		for _, cr := range creds {
			t.Run(setup.name+", "+cr.name, func(t *testing.T) {
				t.Parallel()
				cfg := testConfig(setup.endpoint)
				cfg.Bucket, cfg.Region, cfg.UsePathStyle = setup.bucket, setup.region, setup.pathStyle
				cfg.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, cr.token)
				store := newStore(t, cfg)
				if !s3.PresignsByHand(store) {
					t.Fatal("the store presigns with the SDK: the comparison would be of the SDK with itself")
				}
				ctx := context.Background()
				for _, key := range presignKeys {
					for _, expires := range []time.Duration{time.Second, 90*time.Second + 500*time.Millisecond, ports.MaxPresignExpiry} {
						for _, sha := range [][]byte{nil, sum[:]} {
							req := ports.PutRequest{Key: porttest.UploadPrefix + key, ContentType: "text/plain; charset=utf-8", Size: 1234567, SHA256: sha}
							want, err := s3.SDKPresignPut(ctx, store, req, expires)
							if err != nil {
								t.Fatalf("SDK PresignPut(%.80q): %v", req.Key, err)
							}
							signAtSDKTime(t, store, want.URL)
							got, err := store.PresignPut(ctx, req, expires)
							comparePresigned(t, fmt.Sprintf("PresignPut(%.80q, sha256 %v, %v)", req.Key, sha != nil, expires), got, err, want, cr.token)
						}
						for _, get := range []struct{ version, filename string }{
							{"", "report.pdf"},
							{"3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", `résumé "final".pdf`},
							{"v/1 2=3&4?", "a&b=c?; d.txt"},
						} {
							req := ports.GetRequest{Key: porttest.DownloadPrefix + key, VersionID: get.version, Filename: get.filename, ContentType: "application/pdf"}
							want, err := s3.SDKPresignGet(ctx, store, req, expires)
							if err != nil {
								t.Fatalf("SDK PresignGet(%.80q): %v", req.Key, err)
							}
							signAtSDKTime(t, store, want.URL)
							got, err := store.PresignGet(ctx, req, expires)
							comparePresigned(t, fmt.Sprintf("PresignGet(%.80q, version %q, %v)", req.Key, get.version, expires), got, err, want, cr.token)
						}
					}
				}
			})
		}
	}
}

// signAtSDKTime sets the store's clock to the signing time of the SDK's
// presigned URL, plus a fraction of a second that must not matter.
func signAtSDKTime(t *testing.T, store *s3.ObjectStore, sdkURL string) {
	t.Helper()
	u, err := url.Parse(sdkURL)
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("SDK URL %s: X-Amz-Date: %v", sdkURL, err)
	}
	s3.SetPresignClock(store, func() time.Time { return at.Add(700 * time.Millisecond).In(time.Local) })
}

func comparePresigned(t *testing.T, what string, got ports.PresignedRequest, err error, want ports.PresignedRequest, token string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s: differs from the SDK's (-SDK +by hand):\n%s", what, d)
	}
	u, err := url.Parse(got.URL)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("X-Amz-Security-Token") != token || q.Get("X-Amz-Signature") == "" {
		t.Fatalf("%s: URL %s: want X-Amz-Security-Token %q and a signature", what, got.URL, token)
	}
}

// TestPresignFallsBackToSDK checks the configurations the store leaves to
// the SDK's presign client, and that presigning still works there.
func TestPresignFallsBackToSDK(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		mutate  func(*s3.Config)
		wantAlg string // X-Amz-Algorithm of a presigned PUT; "" to not presign
		wantErr bool   // PresignPut fails, as it did before the store presigned by hand
	}{
		{"a multi-region access point (SigV4a)", func(c *s3.Config) {
			c.Endpoint, c.UsePathStyle, c.Bucket = "", false, "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap"
		}, "AWS4-ECDSA-P256-SHA256", false},
		{"anonymous credentials", func(c *s3.Config) { c.Credentials = aws.AnonymousCredentials{} }, "", false},
		// Presigning would ask S3 for session credentials.
		{"an S3 Express directory bucket", func(c *s3.Config) {
			c.Endpoint, c.UsePathStyle, c.Bucket = "", false, "uploads--euw1-az1--x-s3"
		}, "", false},
		{"a FIPS pseudo-region", func(c *s3.Config) { c.Endpoint, c.Region = "", "fips-eu-west-1" }, "AWS4-HMAC-SHA256", false},
		{"a region that is not a DNS label", func(c *s3.Config) { c.Region = "Not A Region" }, "", true},
		{"an access point in another region, which the endpoint rules refuse", func(c *s3.Config) {
			c.Endpoint, c.UsePathStyle, c.Bucket = "", false, "arn:aws:s3:us-west-2:123456789012:accesspoint/uploads"
		}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("http://127.0.0.1:9")
			tc.mutate(&cfg)
			store := newStore(t, cfg)
			if s3.PresignsByHand(store) {
				t.Fatal("the store presigns by hand; want the SDK's presign client")
			}
			if tc.wantAlg == "" && !tc.wantErr {
				return
			}
			p, err := store.PresignPut(context.Background(), ports.PutRequest{Key: porttest.UploadPrefix + "k", ContentType: "text/plain", Size: 5}, time.Minute)
			if tc.wantErr {
				if err == nil {
					t.Errorf("PresignPut: got %+v, want the SDK's error", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("PresignPut: %v", err)
			}
			if u, err := url.Parse(p.URL); err != nil || u.Query().Get("X-Amz-Algorithm") != tc.wantAlg {
				t.Errorf("PresignPut URL %s: want X-Amz-Algorithm %s", p.URL, tc.wantAlg)
			}
		})
	}
}

// TestPresignCredentialsFailure wants a credentials provider's failure
// reported as the SDK presigner reported it: unavailable (no response from
// S3; the provider may be an unreachable metadata service).
func TestPresignCredentialsFailure(t *testing.T) {
	t.Parallel()
	cfg := testConfig("http://127.0.0.1:9")
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("metadata service unreachable")
	})
	store := newStore(t, cfg)
	if !s3.PresignsByHand(store) {
		t.Fatal("the store presigns with the SDK; want by hand")
	}
	ctx := context.Background()
	put := ports.PutRequest{Key: porttest.UploadPrefix + "k", ContentType: "text/plain", Size: 5}
	get := ports.GetRequest{Key: porttest.DownloadPrefix + "k", Filename: "k.txt", ContentType: "text/plain"}
	calls := []struct {
		name string
		call func() (ports.PresignedRequest, error)
	}{
		{"PresignPut", func() (ports.PresignedRequest, error) { return store.PresignPut(ctx, put, time.Minute) }},
		{"SDK PresignPut", func() (ports.PresignedRequest, error) { return s3.SDKPresignPut(ctx, store, put, time.Minute) }},
		{"PresignGet", func() (ports.PresignedRequest, error) { return store.PresignGet(ctx, get, time.Minute) }},
		{"SDK PresignGet", func() (ports.PresignedRequest, error) { return s3.SDKPresignGet(ctx, store, get, time.Minute) }},
	}
	for _, c := range calls {
		p, err := c.call()
		if !domain.IsKind(err, domain.KindUnavailable) || !strings.Contains(fmt.Sprint(err), "metadata service unreachable") {
			t.Errorf("%s: got %+v, %v (kind %v); want kind %v naming the provider's error", c.name, p, err, domain.KindOf(err), domain.KindUnavailable)
		}
	}
}

// TestPresignCredentialsCachedAndRefreshed wants credentials retrieved once
// while they are valid, and again, with the new session token used, once
// they have expired.
func TestPresignCredentialsCachedAndRefreshed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		expires   time.Duration // from the retrieval; 0: credentials that do not expire
		wantCalls int64
	}{
		{"credentials that do not expire are retrieved once", 0, 1},
		{"credentials valid for an hour are retrieved once", time.Hour, 1},
		{"expired credentials are retrieved each time", -time.Minute, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			cfg := testConfig("http://127.0.0.1:9")
			cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				n := calls.Add(1)
				c := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: fmt.Sprintf("token-%d", n)}
				if tc.expires != 0 {
					c.CanExpire, c.Expires = true, time.Now().Add(tc.expires)
				}
				return c, nil
			})
			store := newStore(t, cfg)
			if !s3.PresignsByHand(store) {
				t.Fatal("the store presigns with the SDK; want by hand")
			}
			for range 3 {
				p, err := store.PresignPut(context.Background(), ports.PutRequest{Key: porttest.UploadPrefix + "k", ContentType: "text/plain", Size: 5}, time.Minute)
				if err != nil {
					t.Fatalf("PresignPut: %v", err)
				}
				u, err := url.Parse(p.URL)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := u.Query().Get("X-Amz-Security-Token"), fmt.Sprintf("token-%d", calls.Load()); got != want {
					t.Errorf("X-Amz-Security-Token: got %q, want the latest %q", got, want)
				}
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("credentials retrieved %d times, want %d", got, tc.wantCalls)
			}
		})
	}
}
