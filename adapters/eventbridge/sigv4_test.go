package eventbridge_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// verifySigV4 checks that r carries an AWS Signature Version 4 made with
// creds for service in region over exactly this method, path, query, signed
// headers and body: it signs the same request again and compares.
func verifySigV4(r *http.Request, body []byte, creds aws.Credentials, service, region string) error {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return fmt.Errorf("authorization %q is not SigV4", auth)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %v", err)
	}
	scope := strings.Join([]string{creds.AccessKeyID, signedAt.Format("20060102"), region, service, "aws4_request"}, "/")
	if got := fields["Credential"]; got != scope {
		return fmt.Errorf("credential scope %q, want %q", got, scope)
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return fmt.Errorf("X-Amz-Content-Sha256 does not match the body")
	}

	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-date"} {
		if !slices.Contains(signed, must) {
			return fmt.Errorf("signed headers %q lack %s", signed, must)
		}
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	for _, h := range signed {
		switch h {
		case "host", "x-amz-date":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, payloadHash, service, region, signedAt); err != nil {
		return err
	}
	if got, want := auth, again.Header.Get("Authorization"); got != want {
		return fmt.Errorf("signature does not verify:\n got %s\nwant %s", got, want)
	}
	return nil
}

// The stand-in's check must be able to fail, or the SigV4 assertions above
// prove nothing.
func TestVerifySigV4RejectsForgeries(t *testing.T) {
	t.Parallel()
	body := []byte(`{"Entries":[]}`)
	sign := func(creds aws.Credentials, region string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9/", nil)
		r.Header.Set("Content-Type", "application/json")
		r.ContentLength = int64(len(body))
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "events", region, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.Host = r.URL.Host
		return r
	}
	cases := []struct {
		name    string
		req     *http.Request
		body    []byte
		wantErr bool
	}{
		{"a genuine signature verifies", sign(testCreds, testRegion), body, false},
		{"another secret key is refused", sign(aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "other"}, testRegion), body, true},
		{"another region is refused", sign(testCreds, "us-east-1"), body, true},
		{"a changed body is refused", sign(testCreds, testRegion), []byte(`{"Entries":[{}]}`), true},
		{"no signature is refused", func() *http.Request { r := sign(testCreds, testRegion); r.Header.Del("Authorization"); return r }(), body, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := verifySigV4(tc.req, tc.body, testCreds, "events", testRegion)
			if got := err != nil; got != tc.wantErr {
				t.Errorf("verifySigV4: got error %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}
