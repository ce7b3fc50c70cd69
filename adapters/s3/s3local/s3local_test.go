package s3local_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/gatehouse/gatehouse/adapters/s3/s3local"
)

const (
	bucket = "b"
	region = "eu-west-1"
)

var creds = aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local/secret"}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv, err := s3local.New(s3local.Config{Buckets: []string{bucket}, Region: region, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// newPlainGofakes3 serves gofakes3 alone, versioned, as a baseline.
func newPlainGofakes3(t *testing.T) *httptest.Server {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	if err := backend.SetVersioningConfiguration(bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(ts.Close)
	return ts
}

func client(endpoint string, c aws.Credentials, region string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.StaticCredentialsProvider{Value: c},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	})
}

func put(t *testing.T, c *awss3.Client, key, body string) string {
	t.Helper()
	out, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// presignPut presigns a PUT of a 5-byte text/plain body as the S3 adapter
// does, with the given credentials, region and signing time.
func presignPut(t *testing.T, endpoint string, c aws.Credentials, region string, at time.Time) string {
	t.Helper()
	r, err := http.NewRequest(http.MethodPut, endpoint+"/"+bucket+"/k?X-Amz-Expires=60", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "text/plain")
	r.ContentLength = 5
	u, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		PresignHTTP(context.Background(), c, r, "UNSIGNED-PAYLOAD", "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func sendPut(t *testing.T, rawURL string, header http.Header, body string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPut, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = header
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The Server's signature checks must be able to fail, or the contract
// suite's "refused by the signature" cases prove nothing.
func TestServerVerifiesSignatures(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	textPlain := http.Header{"Content-Type": {"text/plain"}}
	cases := []struct {
		name     string
		url      func() string
		header   http.Header
		body     string
		wantCode int
		wantErr  string // S3 error code in the body
	}{
		{"a genuine presigned PUT is accepted", func() string { return presignPut(t, ts.URL, creds, region, time.Now()) },
			textPlain, "hello", http.StatusOK, ""},
		{"a presigned PUT made with another secret is refused", func() string {
			return presignPut(t, ts.URL, aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "other"}, region, time.Now())
		}, textPlain, "hello", http.StatusForbidden, "SignatureDoesNotMatch"},
		{"a presigned PUT made with another key ID is refused", func() string {
			return presignPut(t, ts.URL, aws.Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: creds.SecretAccessKey}, region, time.Now())
		}, textPlain, "hello", http.StatusForbidden, "SignatureDoesNotMatch"},
		{"a presigned PUT scoped to another region is refused", func() string { return presignPut(t, ts.URL, creds, "us-east-1", time.Now()) },
			textPlain, "hello", http.StatusForbidden, "SignatureDoesNotMatch"},
		{"an expired presigned PUT is refused", func() string { return presignPut(t, ts.URL, creds, region, time.Now().Add(-2*time.Minute)) },
			textPlain, "hello", http.StatusForbidden, "AccessDenied"},
		{"a presigned PUT with an altered signature is refused", func() string {
			u := presignPut(t, ts.URL, creds, region, time.Now())
			i := strings.LastIndex(u, "=") + 1
			return u[:i] + strings.Repeat("0", len(u)-i)
		}, textPlain, "hello", http.StatusForbidden, "SignatureDoesNotMatch"},
		{"a presigned PUT with an unsigned x-amz- header is refused", func() string { return presignPut(t, ts.URL, creds, region, time.Now()) },
			http.Header{"Content-Type": {"text/plain"}, "X-Amz-Tagging": {"GuardDutyMalwareScanStatus=NO_THREATS_FOUND"}}, "hello", http.StatusForbidden, "SignatureDoesNotMatch"},
		{"a PUT without any signature is refused", func() string { return ts.URL + "/" + bucket + "/k" },
			textPlain, "hello", http.StatusForbidden, "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := sendPut(t, tc.url(), tc.header, tc.body)
			if code != tc.wantCode || !strings.Contains(body, tc.wantErr) {
				t.Errorf("PUT: got %d %s, want %d with error code %q", code, body, tc.wantCode, tc.wantErr)
			}
		})
	}

	t.Run("a header-signed request with another secret is refused", func(t *testing.T) {
		t.Parallel()
		_, err := client(ts.URL, aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "other"}, region).
			HeadBucket(context.Background(), &awss3.HeadBucketInput{Bucket: aws.String(bucket)})
		if got := httpStatus(err); got != http.StatusForbidden {
			t.Errorf("HeadBucket: got %v (status %d), want 403", err, got)
		}
	})

	t.Run("a header-signed request whose body differs from the signed payload hash is refused", func(t *testing.T) {
		t.Parallel()
		signedBody, sentBody := []byte("<Tagging/>"), []byte("<Tagging>")
		r, err := http.NewRequest(http.MethodPut, ts.URL+"/"+bucket+"/k?tagging", bytes.NewReader(sentBody))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(signedBody)
		r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "s3", region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("PUT ?tagging: got status %d, want 403", resp.StatusCode)
		}
	})
}

func httpStatus(err error) int {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		return resp.HTTPStatusCode()
	}
	return 0
}

func TestServerChecksSHA256(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	c := client(ts.URL, creds, region)
	sum := sha256.Sum256([]byte("hello"))
	cases := []struct {
		name     string
		body     string
		wantCode string
	}{
		{"a body with the declared digest is stored", "hello", ""},
		{"a body with another digest is refused", "hellO", "BadDigest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := "sha-" + tc.body
			_, err := c.PutObject(context.Background(), &awss3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(tc.body),
				ChecksumSHA256: aws.String(base64Std(sum[:])),
			})
			if got := errorCode(err); got != tc.wantCode {
				t.Errorf("PutObject: got %v (code %q), want code %q", err, got, tc.wantCode)
			}
		})
	}
}

// TestPlainGofakes3Gaps records what gofakes3 v1.2.0 gets wrong on its own
// and checks that the Server gets it right; if gofakes3 is fixed, the
// baseline rows fail and the Server's additions can go.
func TestPlainGofakes3Gaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name string
		// check runs against a server with two versions of "k" ("one",
		// then "second") and returns what it observed.
		check func(t *testing.T, c *awss3.Client, endpoint, v1 string) string
		plain string // what gofakes3 alone yields
		local string // what the Server yields
	}{
		{"a PUT signed with another secret is refused",
			func(t *testing.T, c *awss3.Client, endpoint, v1 string) string {
				forger := client(endpoint, aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "guessed"}, region)
				_, err := forger.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("forged")})
				if err != nil {
					return "error " + errorCode(err)
				}
				return "stored"
			},
			"stored", "error SignatureDoesNotMatch"},
		{"HEAD of the first version reports its size",
			func(t *testing.T, c *awss3.Client, endpoint, v1 string) string {
				out, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: aws.String(v1)})
				if err != nil {
					return "error " + errorCode(err)
				}
				return fmt.Sprintf("size %d, first version %v", aws.ToInt64(out.ContentLength), aws.ToString(out.VersionId) == v1)
			},
			"size 6, first version false", "size 3, first version true"},
		{"a copy of the first version copies its bytes",
			func(t *testing.T, c *awss3.Client, endpoint, v1 string) string {
				_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy"), CopySource: aws.String(bucket + "/k?versionId=" + url.QueryEscape(v1))})
				if err != nil {
					return "error " + errorCode(err)
				}
				out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy")})
				if err != nil {
					return "error " + errorCode(err)
				}
				defer out.Body.Close()
				b, _ := io.ReadAll(out.Body)
				return string(b)
			},
			"second", "one"},
		{"tags written to the first version are read back",
			func(t *testing.T, c *awss3.Client, endpoint, v1 string) string {
				_, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: aws.String(v1),
					Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("GuardDutyMalwareScanStatus"), Value: aws.String("NO_THREATS_FOUND")}}}})
				if err != nil {
					return "error " + errorCode(err)
				}
				out, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: aws.String(v1)})
				if err != nil {
					return "error " + errorCode(err)
				}
				var tags []string
				for _, tg := range out.TagSet {
					tags = append(tags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
				}
				return strings.Join(tags, ",")
			},
			"error MethodNotAllowed", "GuardDutyMalwareScanStatus=NO_THREATS_FOUND"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, side := range []struct {
				name string
				ts   *httptest.Server
				want string
			}{{"gofakes3 alone", newPlainGofakes3(t), tc.plain}, {"the Server", newServer(t), tc.local}} {
				c := client(side.ts.URL, creds, region)
				v1 := put(t, c, "k", "one")
				put(t, c, "k", "second")
				if got := tc.check(t, c, side.ts.URL, v1); got != side.want {
					t.Errorf("%s: got %q, want %q", side.name, got, side.want)
				}
			}
		})
	}
}

func TestServerTagging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tagSet := func(kv ...string) []types.Tag {
		var tags []types.Tag
		for i := 0; i < len(kv); i += 2 {
			tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		return tags
	}
	read := func(t *testing.T, c *awss3.Client, key, version string) map[string]string {
		t.Helper()
		in := &awss3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if version != "" {
			in.VersionId = aws.String(version)
		}
		out, err := c.GetObjectTagging(ctx, in)
		if err != nil {
			t.Fatalf("GetObjectTagging(%q, %q): %v", key, version, err)
		}
		m := map[string]string{}
		for _, tg := range out.TagSet {
			m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		return m
	}
	cases := []struct {
		name string
		run  func(t *testing.T, c *awss3.Client)
	}{
		{"tags are per version", func(t *testing.T, c *awss3.Client) {
			v1 := put(t, c, "k", "one")
			put(t, c, "k", "two")
			if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: aws.String(v1), Tagging: &types.Tagging{TagSet: tagSet("a", "1")}}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(read(t, c, "k", v1), map[string]string{"a": "1"}); d != "" {
				t.Errorf("tags of the first version (-got +want):\n%s", d)
			}
			if d := cmp.Diff(read(t, c, "k", ""), map[string]string{}); d != "" {
				t.Errorf("tags of the current version (-got +want):\n%s", d)
			}
		}},
		{"a copy keeps the source's tags by default and replaces them on request", func(t *testing.T, c *awss3.Client) {
			put(t, c, "k", "one")
			if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: tagSet("a", "1")}}); err != nil {
				t.Fatal(err)
			}
			for _, cp := range []struct {
				dst       string
				directive types.TaggingDirective
				tagging   *string
				want      map[string]string
			}{
				{"kept", "", nil, map[string]string{"a": "1"}},
				{"replaced", types.TaggingDirectiveReplace, aws.String("b=2"), map[string]string{"b": "2"}},
				{"dropped", types.TaggingDirectiveReplace, nil, map[string]string{}},
			} {
				if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(cp.dst), CopySource: aws.String(bucket + "/k"), TaggingDirective: cp.directive, Tagging: cp.tagging}); err != nil {
					t.Fatalf("CopyObject to %q: %v", cp.dst, err)
				}
				if d := cmp.Diff(read(t, c, cp.dst, ""), cp.want); d != "" {
					t.Errorf("tags of %q (-got +want):\n%s", cp.dst, d)
				}
			}
		}},
		{"more than ten tags are refused", func(t *testing.T, c *awss3.Client) {
			put(t, c, "k", "one")
			var kv []string
			for i := range 11 {
				kv = append(kv, "k"+strconv.Itoa(i), "v")
			}
			_, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: tagSet(kv...)}})
			if got := errorCode(err); got != "InvalidTag" {
				t.Errorf("PutObjectTagging with 11 tags: got %v (code %q), want InvalidTag", err, got)
			}
		}},
		{"tagging a missing object is not found", func(t *testing.T, c *awss3.Client) {
			_, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
			if got := errorCode(err); got != "NoSuchKey" {
				t.Errorf("GetObjectTagging of a missing key: got %v (code %q), want NoSuchKey", err, got)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, client(newServer(t).URL, creds, region))
		})
	}
}

func TestNewRefusesNoRegion(t *testing.T) {
	t.Parallel()
	if _, err := s3local.New(s3local.Config{Buckets: []string{bucket}}); err == nil {
		t.Error("New without a region: got no error, want one")
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
