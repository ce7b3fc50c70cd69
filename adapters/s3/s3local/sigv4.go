package s3local

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigAlgorithm    = "AWS4-HMAC-SHA256"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	amzDateFormat   = "20060102T150405Z"
)

// errExpired is the error of a presigned request used after its expiry.
var errExpired = errors.New("Request has expired")

// authenticate checks r's signature, when the Server has credentials, and
// answers with S3's error when it does not verify. It returns the body when
// it had to read it (to check a signed payload hash).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	if s.creds.AccessKeyID == "" {
		return nil, true
	}
	var err error
	if r.URL.Query().Has("X-Amz-Signature") {
		err = s.verifyPresigned(r)
	} else {
		body, err = s.verifyHeader(r)
	}
	switch {
	case err == nil:
		return body, true
	case errors.Is(err, errExpired):
		s3Error(w, http.StatusForbidden, "AccessDenied", "Request has expired")
	default:
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided: "+err.Error())
	}
	return nil, false
}

// signer signs as the SDK signs for S3: paths are not escaped twice and,
// to reproduce a presigned request exactly, headers stay headers.
func signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
		o.DisableHeaderHoisting = true
	})
}

// scope checks a credential scope "<key id>/<date>/<region>/s3/aws4_request"
// against the Server's credentials and region and the signing time.
func (s *Server) scope(credential string, at time.Time) error {
	want := strings.Join([]string{s.creds.AccessKeyID, at.Format("20060102"), s.region, "s3", "aws4_request"}, "/")
	if credential != want {
		return fmt.Errorf("credential %q does not match the expected scope", credential)
	}
	return nil
}

// unsigned rebuilds the request r signed over: its method, URL (with query)
// and exactly the signed headers.
func unsigned(r *http.Request, rawQuery string, signedHeaders []string) (*http.Request, error) {
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: rawQuery}
	again, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range signedHeaders {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	return again, nil
}

// verifyPresigned checks a presigned request: its credential scope, expiry,
// signature, and that it sends no x-amz-* header it did not sign.
func (s *Server) verifyPresigned(r *http.Request) error {
	q := r.URL.Query()
	if got := q.Get("X-Amz-Algorithm"); got != sigAlgorithm {
		return fmt.Errorf("algorithm %q is not %s", got, sigAlgorithm)
	}
	at, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	if err := s.scope(q.Get("X-Amz-Credential"), at); err != nil {
		return err
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires < 1 || expires > 7*24*3600 {
		return fmt.Errorf("X-Amz-Expires %q is not 1 to 604800 seconds", q.Get("X-Amz-Expires"))
	}
	if !s.now().Before(at.Add(time.Duration(expires) * time.Second)) {
		return errExpired
	}
	signedHeaders := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	if !slices.Contains(signedHeaders, "host") {
		return errors.New("host is not signed")
	}
	for h := range r.Header {
		if h := strings.ToLower(h); strings.HasPrefix(h, "x-amz-") && !slices.Contains(signedHeaders, h) {
			return fmt.Errorf("header %s is present but not signed", h)
		}
	}
	sig := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	again, err := unsigned(r, q.Encode(), signedHeaders)
	if err != nil {
		return err
	}
	signedURL, _, err := signer().PresignHTTP(context.Background(), s.creds, again, unsignedPayload, "s3", s.region, at)
	if err != nil {
		return err
	}
	u, err := url.Parse(signedURL)
	if err != nil {
		return err
	}
	if want := u.Query().Get("X-Amz-Signature"); !hmac.Equal([]byte(sig), []byte(want)) {
		return errors.New("signature does not verify")
	}
	return nil
}

// verifyHeader checks a request signed in its Authorization header, and the
// payload hash it claims against its body, which it returns.
func (s *Server) verifyHeader(r *http.Request) ([]byte, error) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), sigAlgorithm+" ")
	if !ok {
		return nil, errors.New("the request is not signed with SigV4")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	at, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return nil, fmt.Errorf("X-Amz-Date: %w", err)
	}
	if err := s.scope(fields["Credential"], at); err != nil {
		return nil, err
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	var body []byte
	switch {
	case payloadHash == "":
		return nil, errors.New("X-Amz-Content-Sha256 is missing")
	case payloadHash == unsignedPayload || strings.HasPrefix(payloadHash, "STREAMING-"):
	default:
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		if payloadHash != hex.EncodeToString(sum[:]) {
			return nil, errors.New("X-Amz-Content-Sha256 does not match the body")
		}
	}
	signedHeaders := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-date", "x-amz-content-sha256"} {
		if !slices.Contains(signedHeaders, must) {
			return nil, fmt.Errorf("%s is not signed", must)
		}
	}
	again, err := unsigned(r, r.URL.RawQuery, signedHeaders)
	if err != nil {
		return nil, err
	}
	if err := signer().SignHTTP(context.Background(), s.creds, again, payloadHash, "s3", s.region, at); err != nil {
		return nil, err
	}
	if got, want := r.Header.Get("Authorization"), again.Header.Get("Authorization"); !hmac.Equal([]byte(got), []byte(want)) {
		return nil, errors.New("signature does not verify")
	}
	return body, nil
}
