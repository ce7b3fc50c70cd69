package inmem

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.ObjectStore = (*ObjectStore)(nil)

// Defaults of ObjectStoreConfig.
const (
	DefaultObjectBucket   = "gatehouse-uploads"
	DefaultUploadPrefix   = "quarantine/"
	DefaultDownloadPrefix = "accepted/"
)

// Query parameters of the fake's presigned URLs.
const (
	paramExpires   = "X-Inmem-Expires"
	paramSignature = "X-Inmem-Signature"
	paramVersion   = "versionId"
	paramRespType  = "response-content-type"
	paramRespDisp  = "response-content-disposition"
	headerChecksum = "X-Amz-Checksum-Sha256"
	headerVersion  = "X-Amz-Version-Id"
)

// errObjectsInjected is the cause of the failures ObjectStore was told to
// produce.
var errObjectsInjected = errors.New("injected object store failure")

// ObjectStoreConfig configures an ObjectStore.
type ObjectStoreConfig struct {
	// BaseURL is where Handler is served (e.g. an httptest server's URL);
	// presigned URLs point there.
	BaseURL string
	// Bucket is the name reported in ObjectInfo; DefaultObjectBucket when
	// empty.
	Bucket string
	// UploadPrefix and DownloadPrefix are the areas PresignPut and
	// PresignGet may target; DefaultUploadPrefix and DefaultDownloadPrefix
	// when empty. Neither may be a prefix of the other.
	UploadPrefix, DownloadPrefix string
	// Now tells the time for versions and for the expiry of presigned
	// requests; time.Now when nil (pass (*Clock).Now to control it).
	Now func() time.Time
}

// ObjectStore is an in-memory ports.ObjectStore over a versioned bucket. Its
// presigned requests are URLs of Handler, which checks them as S3 does: the
// signature covers the method, key, query, Content-Type, Content-Length and
// checksum header (403 when any differs or the URL expired), and a body
// whose SHA-256 is not the declared one is refused (400). It refuses the
// arguments the S3 adapter refuses, and can be told to fail. It is safe for
// concurrent use.
type ObjectStore struct {
	base                   *url.URL
	bucket                 string
	uploadPrefix, dlPrefix string
	now                    func() time.Time
	secret                 []byte

	mu       sync.Mutex
	objects  map[string][]*objectVersion // by key, oldest version first
	failures []domain.Kind
}

type objectVersion struct {
	id          string
	body        []byte
	contentType string
	etag        string
	modified    time.Time
	tags        map[string]string
}

// NewObjectStore returns an empty ObjectStore. It panics when cfg.BaseURL is
// not an absolute URL, or the prefixes do not end in "/" or overlap: all
// are mistakes in a test's setup.
func NewObjectStore(cfg ObjectStoreConfig) *ObjectStore {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		panic(fmt.Sprintf("inmem.NewObjectStore: BaseURL %q is not an absolute URL", cfg.BaseURL))
	}
	s := &ObjectStore{
		base:         base,
		bucket:       cmp.Or(cfg.Bucket, DefaultObjectBucket),
		uploadPrefix: cmp.Or(cfg.UploadPrefix, DefaultUploadPrefix),
		dlPrefix:     cmp.Or(cfg.DownloadPrefix, DefaultDownloadPrefix),
		now:          cfg.Now,
		secret:       make([]byte, 32),
		objects:      map[string][]*objectVersion{},
	}
	if !strings.HasSuffix(s.uploadPrefix, "/") || !strings.HasSuffix(s.dlPrefix, "/") {
		panic(fmt.Sprintf("inmem.NewObjectStore: prefixes %q and %q must end in /", s.uploadPrefix, s.dlPrefix))
	}
	if strings.HasPrefix(s.uploadPrefix, s.dlPrefix) || strings.HasPrefix(s.dlPrefix, s.uploadPrefix) {
		panic(fmt.Sprintf("inmem.NewObjectStore: prefixes %q and %q overlap", s.uploadPrefix, s.dlPrefix))
	}
	if s.now == nil {
		s.now = time.Now
	}
	_, _ = rand.Read(s.secret)
	return s
}

// FailNext makes the next n calls that would reach the store (every method
// but the two presigners) fail with an error of the given kind
// (domain.KindUnavailable for an outage). Calls add up.
func (s *ObjectStore) FailNext(n int, kind domain.Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, kind)
	}
}

// Put stores body as a new version of key, as a client's presigned PUT
// would, and returns it. It is for tests and the local wiring; it does not
// check the upload prefix.
func (s *ObjectStore) Put(key, contentType string, body []byte) ports.ObjectInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info(key, s.put(key, contentType, bytes.Clone(body)))
}

// begin runs the checks every store call starts with. The caller holds no
// lock.
func (s *ObjectStore) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > 0 {
		kind := s.failures[0]
		s.failures = s.failures[1:]
		return domain.Wrap(kind, op, errObjectsInjected)
	}
	return nil
}

// PresignPut returns a PUT of Handler; see ports.ObjectStore.
func (s *ObjectStore) PresignPut(_ context.Context, req ports.PutRequest, expires time.Duration) (ports.PresignedRequest, error) {
	const op = "inmem.ObjectStore.PresignPut"
	if err := ports.CheckPutRequest(op, req, s.uploadPrefix, expires); err != nil {
		return ports.PresignedRequest{}, err
	}
	headers := map[string]string{"Content-Type": req.ContentType}
	checksum := ""
	if req.SHA256 != nil {
		checksum = base64.StdEncoding.EncodeToString(req.SHA256)
		headers[headerChecksum] = checksum
	}
	at := s.expiry(expires)
	q := url.Values{paramExpires: {strconv.FormatInt(at.Unix(), 10)}}
	q.Set(paramSignature, s.sign(http.MethodPut, req.Key, q, req.ContentType, req.Size, checksum))
	return ports.PresignedRequest{Method: http.MethodPut, URL: s.url(req.Key, q), Headers: headers, ExpiresAt: at}, nil
}

// PresignGet returns a GET of Handler; see ports.ObjectStore.
func (s *ObjectStore) PresignGet(_ context.Context, req ports.GetRequest, expires time.Duration) (ports.PresignedRequest, error) {
	const op = "inmem.ObjectStore.PresignGet"
	if err := ports.CheckGetRequest(op, req, s.dlPrefix, expires); err != nil {
		return ports.PresignedRequest{}, err
	}
	at := s.expiry(expires)
	q := url.Values{
		paramExpires:  {strconv.FormatInt(at.Unix(), 10)},
		paramRespType: {req.ContentType},
		paramRespDisp: {ports.AttachmentDisposition(req.Filename)},
	}
	if req.VersionID != "" {
		q.Set(paramVersion, req.VersionID)
	}
	q.Set(paramSignature, s.sign(http.MethodGet, req.Key, q, "", 0, ""))
	return ports.PresignedRequest{Method: http.MethodGet, URL: s.url(req.Key, q), Headers: map[string]string{}, ExpiresAt: at}, nil
}

// expiry is when a request presigned now for d expires, in whole seconds
// like a SigV4 signature.
func (s *ObjectStore) expiry(d time.Duration) time.Time {
	return s.now().Add(d).Truncate(time.Second).UTC()
}

func (s *ObjectStore) url(key string, q url.Values) string {
	u := *s.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + s.bucket + "/" + key
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return u.String()
}

// sign returns the signature of a request with this method, key, query
// (without the signature) and, for a PUT, headers.
func (s *ObjectStore) sign(method, key string, q url.Values, contentType string, length int64, checksum string) string {
	q = maps.Clone(q)
	q.Del(paramSignature)
	mac := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(mac, "%s\n%s\n%s\n%s\n%s\n%d\n%s", method, s.bucket, key, q.Encode(), contentType, length, checksum)
	return hex.EncodeToString(mac.Sum(nil))
}

// Head reports on one version; see ports.ObjectStore.
func (s *ObjectStore) Head(ctx context.Context, key, versionID string) (ports.ObjectInfo, error) {
	const op = "inmem.ObjectStore.Head"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := s.begin(ctx, op); err != nil {
		return ports.ObjectInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.version(op, key, versionID)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	return s.info(key, v), nil
}

// ReadLeading returns the first n bytes of one version; see
// ports.ObjectStore.
func (s *ObjectStore) ReadLeading(ctx context.Context, key, versionID string, n int) ([]byte, error) {
	const op = "inmem.ObjectStore.ReadLeading"
	if err := ports.CheckReadLeading(op, key, n); err != nil {
		return nil, err
	}
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.version(op, key, versionID)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(v.body[:min(n, len(v.body))]), nil
}

// Copy copies one version to dstKey; see ports.ObjectStore.
func (s *ObjectStore) Copy(ctx context.Context, srcKey, srcVersionID, dstKey string) (ports.ObjectInfo, error) {
	const op = "inmem.ObjectStore.Copy"
	if err := ports.CheckObjectKey(op, srcKey); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := ports.CheckObjectKey(op, dstKey); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := s.begin(ctx, op); err != nil {
		return ports.ObjectInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src, err := s.version(op, srcKey, srcVersionID)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	return s.info(dstKey, s.put(dstKey, src.contentType, src.body)), nil
}

// Delete removes every version of key; see ports.ObjectStore.
func (s *ObjectStore) Delete(ctx context.Context, key string) error {
	const op = "inmem.ObjectStore.Delete"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return err
	}
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

// ScanTag returns one version's scan tag; see ports.ObjectStore.
func (s *ObjectStore) ScanTag(ctx context.Context, key, versionID string) (string, error) {
	const op = "inmem.ObjectStore.ScanTag"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return "", err
	}
	if err := s.begin(ctx, op); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.version(op, key, versionID)
	if err != nil {
		return "", err
	}
	return v.tags[ports.ScanStatusTag], nil
}

// SetScanTag sets one version's scan tag; see ports.ObjectStore.
func (s *ObjectStore) SetScanTag(ctx context.Context, key, versionID, value string) error {
	const op = "inmem.ObjectStore.SetScanTag"
	if err := ports.CheckObjectKey(op, key); err != nil {
		return err
	}
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.version(op, key, versionID)
	if err != nil {
		return err
	}
	if v.tags == nil {
		v.tags = map[string]string{}
	}
	v.tags[ports.ScanStatusTag] = value
	return nil
}

// put stores body as the new current version of key. The caller holds s.mu.
func (s *ObjectStore) put(key, contentType string, body []byte) *objectVersion {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	sum := md5.Sum(body)
	v := &objectVersion{
		id:          hex.EncodeToString(id),
		body:        body,
		contentType: contentType,
		etag:        hex.EncodeToString(sum[:]),
		// S3 reports times to the second.
		modified: s.now().Truncate(time.Second).UTC(),
	}
	s.objects[key] = append(s.objects[key], v)
	return v
}

// version finds one version of key, the current one for "". The caller
// holds s.mu.
func (s *ObjectStore) version(op, key, versionID string) (*objectVersion, error) {
	versions := s.objects[key]
	if len(versions) == 0 {
		return nil, domain.Wrap(domain.KindNotFound, op, fmt.Errorf("no object %q", key))
	}
	if versionID == "" {
		return versions[len(versions)-1], nil
	}
	for _, v := range versions {
		if v.id == versionID {
			return v, nil
		}
	}
	return nil, domain.Wrap(domain.KindNotFound, op, fmt.Errorf("no version %q of object %q", versionID, key))
}

func (s *ObjectStore) info(key string, v *objectVersion) ports.ObjectInfo {
	return ports.ObjectInfo{
		Bucket:       s.bucket,
		Key:          key,
		VersionID:    v.id,
		ETag:         v.etag,
		Size:         int64(len(v.body)),
		ContentType:  v.contentType,
		LastModified: v.modified,
	}
}

// Handler serves the presigned requests: PUT and GET of /<bucket>/<key>.
// Errors are S3-style XML documents with S3's status codes.
func (s *ObjectStore) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *ObjectStore) serve(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(s.base.Path, "/")+"/"), "/")
	if bucket != s.bucket || key == "" {
		s3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
		return
	}
	q := r.URL.Query()
	var contentType, checksum string
	var length int64
	switch r.Method {
	case http.MethodPut:
		if r.ContentLength < 0 {
			s3Error(w, http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
			return
		}
		contentType, length, checksum = r.Header.Get("Content-Type"), r.ContentLength, r.Header.Get(headerChecksum)
	case http.MethodGet:
	default:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	want := s.sign(r.Method, key, q, contentType, length, checksum)
	if !hmac.Equal([]byte(q.Get(paramSignature)), []byte(want)) {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return
	}
	expires, err := strconv.ParseInt(q.Get(paramExpires), 10, 64)
	if err != nil || !s.now().Before(time.Unix(expires, 0)) {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Request has expired")
		return
	}
	if r.Method == http.MethodPut {
		s.servePut(w, r, key, contentType, checksum)
		return
	}
	s.serveGet(w, key, q)
}

func (s *ObjectStore) servePut(w http.ResponseWriter, r *http.Request, key, contentType, checksum string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
	if err != nil || int64(len(body)) != r.ContentLength {
		s3Error(w, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		return
	}
	if checksum != "" {
		sum := sha256.Sum256(body)
		if checksum != base64.StdEncoding.EncodeToString(sum[:]) {
			s3Error(w, http.StatusBadRequest, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
			return
		}
	}
	s.mu.Lock()
	v := s.put(key, contentType, body)
	s.mu.Unlock()
	w.Header().Set("ETag", `"`+v.etag+`"`)
	w.Header().Set(headerVersion, v.id)
	w.WriteHeader(http.StatusOK)
}

func (s *ObjectStore) serveGet(w http.ResponseWriter, key string, q url.Values) {
	s.mu.Lock()
	v, err := s.version("", key, q.Get(paramVersion))
	s.mu.Unlock()
	if err != nil {
		s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", cmp.Or(q.Get(paramRespType), v.contentType))
	if d := q.Get(paramRespDisp); d != "" {
		h.Set("Content-Disposition", d)
	}
	h.Set("Content-Length", strconv.Itoa(len(v.body)))
	h.Set("ETag", `"`+v.etag+`"`)
	h.Set("Last-Modified", v.modified.Format(http.TimeFormat))
	h.Set(headerVersion, v.id)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(v.body)
}

// s3Error answers as S3 does when it refuses a request.
func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: code, Message: msg})
}
