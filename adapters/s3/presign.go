package s3

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	"github.com/aws/smithy-go/encoding/httpbinding"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gatehouse/gatehouse/ports"
)

// unsignedPayload is the payload hash of every presigned S3 request: the
// body is not known when the URL is made.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// handPresigner presigns PutObject and GetObject as the SDK's presign client
// does, without running the SDK's operation stack (serialisation, endpoint
// rules, auth scheme resolution) on every call: the endpoint is resolved once,
// by the SDK's own resolver, and each call only escapes the key, builds the
// query and signs with SigV4. A test compares its URLs and headers with the
// SDK's.
type handPresigner struct {
	scheme, host string
	// pathPrefix is the endpoint's path up to the key, with its trailing
	// slash: "/" (virtual-hosted) or "/bucket/" (path-style). It needs no
	// escaping.
	pathPrefix                 string
	signingName, signingRegion string
	creds                      aws.CredentialsProvider
	signer                     *v4.Signer
	now                        func() time.Time
}

// newHandPresigner resolves, with the SDK's resolver and o (the client's
// options), the endpoint of bucket's objects. It returns nil, leaving
// presigning to the SDK, when the SDK would not presign with plain SigV4 on
// a fixed host and path: S3 Express directory buckets and multi-region access
// points (other auth schemes), endpoints with headers, legacy endpoint
// resolvers, disabled HTTPS, FIPS pseudo-regions, anonymous credentials, or
// a configuration the resolver refuses (the SDK then reports the error on
// each call, as before).
func newHandPresigner(ctx context.Context, o awss3.Options, bucket string) *handPresigner {
	if o.EndpointResolver != nil || o.EndpointResolverV2 == nil || o.EndpointOptions.DisableHTTPS || !plainRegion(o.Region) ||
		o.Credentials == nil || aws.IsCredentialsProvider(o.Credentials, (*aws.AnonymousCredentials)(nil)) {
		return nil
	}
	// The parameters the SDK binds for PutObject and GetObject; the rules
	// do not depend on the key.
	e, err := o.EndpointResolverV2.ResolveEndpoint(ctx, awss3.EndpointParameters{
		Bucket:                         aws.String(bucket),
		Region:                         aws.String(o.Region),
		UseFIPS:                        aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack:                   aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
		Endpoint:                       o.BaseEndpoint,
		ForcePathStyle:                 aws.Bool(o.UsePathStyle),
		Accelerate:                     aws.Bool(o.UseAccelerate),
		DisableMultiRegionAccessPoints: aws.Bool(o.DisableMultiRegionAccessPoints),
		UseArnRegion:                   aws.Bool(o.UseARNRegion),
		DisableS3ExpressSessionAuth:    o.DisableS3ExpressSessionAuth,
	})
	if err != nil || len(e.Headers) > 0 || e.Properties.Get("backend") != nil {
		return nil
	}
	u := e.URI
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		u.RawPath != "" || httpbinding.EscapePath(u.Path, false) != u.Path {
		return nil
	}
	opts, ok := smithyauth.GetAuthOptions(&e.Properties)
	// The rules name SigV4 "sigv4"; the SDK matches it with its
	// "aws.auth#sigv4".
	if !ok || len(opts) != 1 || (opts[0].SchemeID != "sigv4" && opts[0].SchemeID != smithyauth.SchemeIDSigV4) {
		return nil
	}
	name, _ := smithyhttp.GetSigV4SigningName(&opts[0].SignerProperties)
	region, _ := smithyhttp.GetSigV4SigningRegion(&opts[0].SignerProperties)
	if name == "" || region == "" {
		return nil
	}
	prefix := u.Path // as smithyhttp.JoinPath joins it with "/" + key
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	creds := o.Credentials
	if _, cached := creds.(*aws.CredentialsCache); !cached {
		creds = aws.NewCredentialsCache(creds)
	}
	return &handPresigner{
		scheme:        u.Scheme,
		host:          u.Host,
		pathPrefix:    prefix,
		signingName:   name,
		signingRegion: region,
		creds:         creds,
		// As the SDK's S3 presigner: S3 keys are escaped once, not twice.
		signer: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
		now:    time.Now,
	}
}

// plainRegion reports whether region is a lowercase DNS label that the SDK
// uses as is (it rewrites FIPS pseudo-regions and refuses invalid ones).
func plainRegion(region string) bool {
	if region == "" || len(region) > 63 || region[0] == '-' || region[len(region)-1] == '-' || strings.Contains(region, "fips") {
		return false
	}
	for i := 0; i < len(region); i++ {
		if c := region[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// put presigns a PutObject of req (already checked) that signs
// Content-Length, Content-Type and, when declared, x-amz-checksum-sha256.
func (p *handPresigner) put(ctx context.Context, req ports.PutRequest, expires time.Duration) (ports.PresignedRequest, error) {
	header := http.Header{"Content-Type": {req.ContentType}}
	if req.SHA256 != nil {
		header["X-Amz-Checksum-Sha256"] = []string{base64.StdEncoding.EncodeToString(req.SHA256)}
	}
	query := "X-Amz-Expires=" + expirySeconds(expires) + "&x-id=PutObject"
	return p.presign(ctx, http.MethodPut, req.Key, query, header, req.Size, expires)
}

// get presigns a GetObject of req (already checked) that fixes the
// response's Content-Type and Content-Disposition.
func (p *handPresigner) get(ctx context.Context, req ports.GetRequest, expires time.Duration) (ports.PresignedRequest, error) {
	var q strings.Builder
	q.WriteString("X-Amz-Expires=")
	q.WriteString(expirySeconds(expires))
	q.WriteString("&response-content-disposition=")
	q.WriteString(url.QueryEscape(ports.AttachmentDisposition(req.Filename)))
	q.WriteString("&response-content-type=")
	q.WriteString(url.QueryEscape(req.ContentType))
	if req.VersionID != "" {
		q.WriteString("&versionId=")
		q.WriteString(url.QueryEscape(req.VersionID))
	}
	q.WriteString("&x-id=GetObject")
	return p.presign(ctx, http.MethodGet, req.Key, q.String(), http.Header{}, 0, expires)
}

// expirySeconds is X-Amz-Expires for expires: whole seconds, as the SDK
// truncates them.
func expirySeconds(expires time.Duration) string {
	return strconv.FormatInt(int64(expires/time.Second), 10)
}

// presign signs method on key with query (X-Amz-Expires among it), header
// and, when positive, the content length, using the current credentials.
func (p *handPresigner) presign(ctx context.Context, method, key, query string, header http.Header, contentLength int64, expires time.Duration) (ports.PresignedRequest, error) {
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return ports.PresignedRequest{}, fmt.Errorf("retrieve credentials: %w", err)
	}
	// X-Amz-Date has whole seconds; ExpiresAt counts from it.
	at := p.now().UTC().Truncate(time.Second)
	r := &http.Request{
		Method: method,
		URL: &url.URL{
			Scheme: p.scheme,
			Host:   p.host,
			Path:   p.pathPrefix + key,
			// Escaped once, as the SDK does for S3 keys: every byte but
			// A-Z a-z 0-9 - . _ ~ and '/' as %XX; the signer leaves the
			// path as is (DisableURIPathEscaping).
			RawPath:  p.pathPrefix + httpbinding.EscapePath(key, false),
			RawQuery: query,
		},
		Header:        header,
		ContentLength: contentLength,
	}
	signedURL, signed, err := p.signer.PresignHTTP(ctx, creds, r, unsignedPayload, p.signingName, p.signingRegion, at)
	if err != nil {
		return ports.PresignedRequest{}, fmt.Errorf("presign: %w", err)
	}
	return ports.PresignedRequest{
		Method:    method,
		URL:       signedURL,
		Headers:   clientHeaders(signed),
		ExpiresAt: at.Add(expires.Truncate(time.Second)),
	}, nil
}
