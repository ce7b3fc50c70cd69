// Package s3 keeps uploaded bytes in an S3 bucket (aws-sdk-go-v2): it
// implements ports.ObjectStore with presigned PUTs into the upload
// (quarantine) prefix, presigned GETs of the download (accepted) prefix, and
// HEAD, ranged GET, CopyObject, DeleteObject and object tagging, each on an
// exact object version.
//
// The bucket must be versioned: a scan verdict names a version, and the
// store acts on that version only. Endpoint (S3_ENDPOINT) and UsePathStyle
// point the client at an S3-compatible server instead of AWS; presigned URLs
// then point there too, so it must be reachable by the clients.
//
// Presigned PUTs sign Content-Length, Content-Type and, when the client
// declared one, x-amz-checksum-sha256, so S3 itself refuses a body of
// another size, type or digest. The store builds presigned requests itself
// and signs them with its own SigV4 query-string presigner (sigv4.go; the
// SDK's signer cost several times the rest of a presign), on the endpoint
// the SDK's resolver gives once in New, rather than run the SDK's operation
// stack on every call; the configurations the SDK signs otherwise (S3
// Express directory buckets, multi-region access points, anonymous
// credentials) keep the SDK's presign client. Tests check the URLs and
// headers against the SDK's presign client in go.mod and, over hostile
// inputs, against the SDK's signer; another checks the signed headers of
// presigned PUTs: some SDK versions dropped Content-Type from the signature
// when ContentLength was unset, and some hoisted x-amz-checksum-* into the
// query string, where S3 ignores it. The client adds no checksum S3 does
// not require (RequestChecksumCalculation WhenRequired): the SDK's default
// adds CRC32 checksums that some S3-compatible servers refuse and that,
// baked into a presigned PUT, could not match the client's body.
//
// The credentials need, on the bucket's objects: s3:PutObject (presigned
// PUTs and the copy's destination), s3:GetObject and s3:GetObjectVersion
// (ReadLeading, the copy's source, presigned GETs), s3:DeleteObject and
// s3:DeleteObjectVersion, s3:GetObjectTagging and
// s3:GetObjectVersionTagging; on the bucket: s3:ListBucketVersions (Delete).
// SetScanTag, used only by the local development scanner, needs
// s3:PutObjectVersionTagging as well, which production credentials should
// not have. S3 authorises HeadObject as s3:GetObject: a bucket policy that
// denies reads of objects not yet tagged clean (GuardDuty's tag-based access
// control) also denies Head of an unscanned object, which then fails with
// domain.KindInternal, so such a policy must exempt the API's role.
//
// Errors are translated at this edge: missing key, version or a 404 →
// domain.KindNotFound; throttling (503 SlowDown, 429), 5xx, request timeouts,
// network failures and a done context → domain.KindUnavailable; access
// denied, a missing bucket, bad credentials and anything else →
// domain.KindInternal.
package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/wire"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.ObjectStore = (*ObjectStore)(nil)

// ProviderSet provides the *ObjectStore as the ports.ObjectStore; the
// injector supplies the Config.
var ProviderSet = wire.NewSet(New, wire.Bind(new(ports.ObjectStore), new(*ObjectStore)))

// DefaultTimeout bounds one S3 operation, the SDK's retries included.
const DefaultTimeout = 10 * time.Second

// Config says which bucket to use and how to reach it.
type Config struct {
	Bucket string // required
	Region string // AWS_REGION; required (any value for most S3-compatible servers)
	// Endpoint (S3_ENDPOINT), when set, replaces AWS's endpoint, e.g.
	// "http://127.0.0.1:9000" for an S3-compatible server.
	Endpoint string
	// UsePathStyle addresses the bucket in the path (host/bucket/key)
	// instead of the host name, as most S3-compatible servers need.
	UsePathStyle bool
	// UploadPrefix and DownloadPrefix are the areas PresignPut and
	// PresignGet may target; both are required, must end in "/", and
	// neither may be a prefix of the other, so that no presigned PUT can
	// write where downloads are served from.
	UploadPrefix, DownloadPrefix string
	// Timeout bounds each operation; DefaultTimeout when zero.
	Timeout time.Duration
	// Credentials replace the SDK's default credentials chain when set
	// (e.g. static credentials for a local server).
	Credentials aws.CredentialsProvider
	// RetryMaxAttempts, when positive, replaces the SDK's default number of
	// attempts per operation (1: no retry).
	RetryMaxAttempts int
	// HTTPClient, when set, sends the requests instead of the SDK's default
	// client.
	HTTPClient *http.Client
}

// ObjectStore is a ports.ObjectStore on one S3 bucket. It is safe for
// concurrent use.
type ObjectStore struct {
	client *awss3.Client
	// hand presigns PutObject and GetObject; nil when the configuration
	// needs the SDK's presign client (see newHandPresigner).
	hand         *handPresigner
	presign      *awss3.PresignClient
	bucket       string
	uploadPrefix string
	dlPrefix     string
	timeout      time.Duration
}

// New returns an ObjectStore for cfg's bucket. It loads the SDK's default
// configuration (environment, shared files, credentials chain) for what cfg
// leaves out, but makes no request.
func New(ctx context.Context, cfg Config) (*ObjectStore, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("s3: bucket is empty")
	case cfg.Region == "":
		return nil, errors.New("s3: AWS_REGION is empty")
	case !strings.HasSuffix(cfg.UploadPrefix, "/") || !strings.HasSuffix(cfg.DownloadPrefix, "/"):
		return nil, fmt.Errorf("s3: upload prefix %q and download prefix %q must both be set and end in /", cfg.UploadPrefix, cfg.DownloadPrefix)
	case strings.HasPrefix(cfg.UploadPrefix, cfg.DownloadPrefix) || strings.HasPrefix(cfg.DownloadPrefix, cfg.UploadPrefix):
		return nil, fmt.Errorf("s3: upload prefix %q and download prefix %q overlap", cfg.UploadPrefix, cfg.DownloadPrefix)
	case cfg.Timeout < 0:
		return nil, errors.New("s3: timeout must not be negative")
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: S3_ENDPOINT %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.Credentials != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(cfg.Credentials))
	}
	if cfg.RetryMaxAttempts > 0 {
		loadOpts = append(loadOpts, awsconfig.WithRetryMaxAttempts(cfg.RetryMaxAttempts))
	}
	if cfg.HTTPClient != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
		// The SDK's default (WhenSupported) adds CRC32 checksums that
		// S3-compatible servers may refuse, and validates response
		// checksums that a ranged GET cannot match.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &ObjectStore{
		client:       client,
		hand:         newHandPresigner(ctx, client.Options(), cfg.Bucket),
		presign:      awss3.NewPresignClient(client),
		bucket:       cfg.Bucket,
		uploadPrefix: cfg.UploadPrefix,
		dlPrefix:     cfg.DownloadPrefix,
		timeout:      cfg.Timeout,
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// PresignPut presigns a PutObject that pins the length, type and digest; see
// ports.ObjectStore.
func (s *ObjectStore) PresignPut(ctx context.Context, req ports.PutRequest, expires time.Duration) (ports.PresignedRequest, error) {
	const op = "s3.PresignPut"
	if err := ports.CheckPutRequest(op, req, s.uploadPrefix, expires); err != nil {
		return ports.PresignedRequest{}, err
	}
	if s.hand != nil {
		p, err := s.hand.put(ctx, req, expires)
		if err != nil {
			return ports.PresignedRequest{}, s.translate(ctx, op, err)
		}
		return p, nil
	}
	return s.sdkPresignPut(ctx, op, req, expires)
}

// sdkPresignPut is PresignPut through the SDK's presign client.
func (s *ObjectStore) sdkPresignPut(ctx context.Context, op string, req ports.PutRequest, expires time.Duration) (ports.PresignedRequest, error) {
	in := &awss3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(req.Key),
		// ContentLength signs the exact size; some SDK versions also
		// dropped Content-Type from the signature without it.
		ContentLength: aws.Int64(req.Size),
		ContentType:   aws.String(req.ContentType),
	}
	if req.SHA256 != nil {
		in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(req.SHA256))
	}
	p, err := s.presign.PresignPutObject(ctx, in, awss3.WithPresignExpires(expires))
	if err != nil {
		return ports.PresignedRequest{}, s.translate(ctx, op, err)
	}
	return presigned(op, p.Method, p.URL, p.SignedHeader)
}

// PresignGet presigns a GetObject of one version with the response's
// Content-Type and Content-Disposition fixed; see ports.ObjectStore.
func (s *ObjectStore) PresignGet(ctx context.Context, req ports.GetRequest, expires time.Duration) (ports.PresignedRequest, error) {
	const op = "s3.PresignGet"
	if err := ports.CheckGetRequest(op, req, s.dlPrefix, expires); err != nil {
		return ports.PresignedRequest{}, err
	}
	if s.hand != nil {
		p, err := s.hand.get(ctx, req, expires)
		if err != nil {
			return ports.PresignedRequest{}, s.translate(ctx, op, err)
		}
		return p, nil
	}
	return s.sdkPresignGet(ctx, op, req, expires)
}

// sdkPresignGet is PresignGet through the SDK's presign client.
func (s *ObjectStore) sdkPresignGet(ctx context.Context, op string, req ports.GetRequest, expires time.Duration) (ports.PresignedRequest, error) {
	in := &awss3.GetObjectInput{
		Bucket:                     aws.String(s.bucket),
		Key:                        aws.String(req.Key),
		ResponseContentType:        aws.String(req.ContentType),
		ResponseContentDisposition: aws.String(ports.AttachmentDisposition(req.Filename)),
	}
	if req.VersionID != "" {
		in.VersionId = aws.String(req.VersionID)
	}
	p, err := s.presign.PresignGetObject(ctx, in, awss3.WithPresignExpires(expires))
	if err != nil {
		return ports.PresignedRequest{}, s.translate(ctx, op, err)
	}
	return presigned(op, p.Method, p.URL, p.SignedHeader)
}

// presigned turns the SDK's presigned request into the port's: every signed
// header but Host and Content-Length, and the expiry the URL states.
func presigned(op, method, rawURL string, signed http.Header) (ports.PresignedRequest, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ports.PresignedRequest{}, domain.Wrap(domain.KindInternal, op, fmt.Errorf("presigned URL: %w", err))
	}
	q := u.Query()
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return ports.PresignedRequest{}, domain.Wrap(domain.KindInternal, op, fmt.Errorf("presigned URL X-Amz-Date: %w", err))
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil {
		return ports.PresignedRequest{}, domain.Wrap(domain.KindInternal, op, fmt.Errorf("presigned URL X-Amz-Expires: %w", err))
	}
	return ports.PresignedRequest{Method: method, URL: rawURL, Headers: clientHeaders(signed), ExpiresAt: at.Add(time.Duration(secs) * time.Second)}, nil
}

// clientHeaders returns the signed headers a client must send itself: all
// but Host and Content-Length.
func clientHeaders(signed http.Header) map[string]string {
	headers := make(map[string]string, len(signed))
	for k, v := range signed {
		if k = http.CanonicalHeaderKey(k); k != "Host" && k != "Content-Length" && len(v) > 0 {
			headers[k] = strings.Join(v, ",")
		}
	}
	return headers
}

// Head runs HeadObject on one version; see ports.ObjectStore.
func (s *ObjectStore) Head(ctx context.Context, key, versionID string) (ports.ObjectInfo, error) {
	const op = "s3.Head"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return ports.ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.head(ctx, op, key, versionID)
}

func (s *ObjectStore) head(ctx context.Context, op, key, versionID string) (ports.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: version(versionID)})
	if err != nil {
		return ports.ObjectInfo{}, s.translate(ctx, op, err)
	}
	return ports.ObjectInfo{
		Bucket:       s.bucket,
		Key:          key,
		VersionID:    nullVersion(aws.ToString(out.VersionId)),
		ETag:         strings.Trim(aws.ToString(out.ETag), `"`),
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		LastModified: aws.ToTime(out.LastModified).UTC(),
	}, nil
}

// ReadLeading runs a ranged GetObject of one version; see ports.ObjectStore.
func (s *ObjectStore) ReadLeading(ctx context.Context, key, versionID string, n int) ([]byte, error) {
	const op = "s3.ReadLeading"
	if err := ports.CheckReadLeading(op, key, n); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{
		Bucket:    aws.String(s.bucket),
		Key:       aws.String(key),
		VersionId: version(versionID),
		Range:     aws.String("bytes=0-" + strconv.Itoa(n-1)),
	})
	if err != nil {
		if errorCode(err) == "InvalidRange" {
			// The object is empty: no range of it is satisfiable.
			if _, err := s.head(ctx, op, key, versionID); err != nil {
				return nil, err
			}
			return []byte{}, nil
		}
		return nil, s.translate(ctx, op, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, int64(n)))
	if err != nil {
		return nil, s.translate(ctx, op, err)
	}
	return b, nil
}

// Copy runs CopyObject of exactly one version, without its tags, and reports
// the new version; see ports.ObjectStore.
func (s *ObjectStore) Copy(ctx context.Context, srcKey, srcVersionID, dstKey string) (ports.ObjectInfo, error) {
	const op = "s3.Copy"
	if err := ports.CheckObjectKey(op, srcKey); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := ports.CheckObjectKey(op, dstKey); err != nil {
		return ports.ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	source := s.bucket + "/" + pathEscape(srcKey)
	if srcVersionID != "" {
		source += "?versionId=" + url.QueryEscape(srcVersionID)
	}
	out, err := s.client.CopyObject(ctx, &awss3.CopyObjectInput{
		Bucket:     aws.String(s.bucket),
		Key:        aws.String(dstKey),
		CopySource: aws.String(source),
		// The scan tag belongs to the quarantined object; leaving tags
		// behind also spares the credentials any tagging permission.
		TaggingDirective:  types.TaggingDirectiveReplace,
		MetadataDirective: types.MetadataDirectiveCopy,
	})
	if err != nil {
		return ports.ObjectInfo{}, s.translate(ctx, op, err)
	}
	return s.head(ctx, op, dstKey, aws.ToString(out.VersionId))
}

// Delete removes every version and delete marker of key; see
// ports.ObjectStore.
func (s *ObjectStore) Delete(ctx context.Context, key string) error {
	const op = "s3.Delete"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var current []string
	pages := awss3.NewListObjectVersionsPaginator(s.client, &awss3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(key)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.translate(ctx, op, err)
		}
		var older []string
		collect := func(k, v *string, latest *bool) {
			if aws.ToString(k) != key { // another key that starts with key
				return
			}
			if aws.ToBool(latest) {
				current = append(current, aws.ToString(v))
			} else {
				older = append(older, aws.ToString(v))
			}
		}
		for _, v := range page.Versions {
			collect(v.Key, v.VersionId, v.IsLatest)
		}
		for _, m := range page.DeleteMarkers {
			collect(m.Key, m.VersionId, m.IsLatest)
		}
		if err := s.deleteVersions(ctx, op, key, older); err != nil {
			return err
		}
		if aws.ToString(page.NextKeyMarker) > key {
			break // keys are listed in order: the rest are other keys
		}
	}
	// The current version goes last, so the key never has older versions
	// without a current one (which S3 handles, but some in-memory
	// implementations do not).
	return s.deleteVersions(ctx, op, key, current)
}

func (s *ObjectStore) deleteVersions(ctx context.Context, op, key string, versions []string) error {
	for _, v := range versions {
		// One DeleteObject per version: DeleteObjects needs a Content-MD5 or
		// checksum that not every S3-compatible server accepts, and a key
		// has few versions.
		_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(v)})
		if err != nil {
			return s.translate(ctx, op, err)
		}
	}
	return nil
}

// ScanTag reads the GuardDuty scan tag of one version; see
// ports.ObjectStore.
func (s *ObjectStore) ScanTag(ctx context.Context, key, versionID string) (string, error) {
	const op = "s3.ScanTag"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tags, err := s.tags(ctx, op, key, versionID)
	if err != nil {
		return "", err
	}
	for _, t := range tags {
		if aws.ToString(t.Key) == ports.ScanStatusTag {
			return aws.ToString(t.Value), nil
		}
	}
	return "", nil
}

func (s *ObjectStore) tags(ctx context.Context, op, key, versionID string) ([]types.Tag, error) {
	out, err := s.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: version(versionID)})
	if err != nil {
		return nil, s.translate(ctx, op, err)
	}
	return out.TagSet, nil
}

// SetScanTag sets the scan tag of one version, keeping its other tags, for
// the local development scanner; see ports.ObjectStore. PutObjectTagging
// replaces the whole set, so a tag written by someone else between the read
// and the write is lost.
func (s *ObjectStore) SetScanTag(ctx context.Context, key, versionID, value string) error {
	const op = "s3.SetScanTag"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tags, err := s.tags(ctx, op, key, versionID)
	if err != nil {
		return err
	}
	set := []types.Tag{{Key: aws.String(ports.ScanStatusTag), Value: aws.String(value)}}
	for _, t := range tags {
		if aws.ToString(t.Key) != ports.ScanStatusTag {
			set = append(set, t)
		}
	}
	_, err = s.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
		Bucket:    aws.String(s.bucket),
		Key:       aws.String(key),
		VersionId: version(versionID),
		Tagging:   &types.Tagging{TagSet: set},
	})
	if err != nil {
		return s.translate(ctx, op, err)
	}
	return nil
}

// version is the SDK's form of a version ID: nil for the current version.
func version(id string) *string {
	if id == "" {
		return nil
	}
	return aws.String(id)
}

// nullVersion maps S3's "null" version (an object written while versioning
// was off) to "".
func nullVersion(id string) string {
	if id == "null" {
		return ""
	}
	return id
}

// pathEscape escapes a key for x-amz-copy-source, keeping its slashes.
func pathEscape(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
