// Package s3local serves an S3-compatible API for tests and local
// development: gofakes3 over its in-memory versioned backend, plus the parts
// of S3 that gatehouse relies on and gofakes3 (v1.2.0) lacks or gets wrong.
//
// On top of gofakes3 the Server
//   - verifies AWS Signature Version 4, in the Authorization header or in a
//     presigned URL (expiry included), with the one set of credentials it is
//     given; gofakes3 checks no signature at all, so without this a PUT of
//     another length or type than the presigned one would be accepted;
//   - refuses a presigned request that carries x-amz-* headers it did not
//     sign, as S3 does;
//   - verifies x-amz-checksum-sha256 against the body (400 BadDigest);
//   - implements object tagging (GET, PUT and DELETE ?tagging, per
//     version), which gofakes3 does not have at all;
//   - answers HEAD ?versionId= with that version (gofakes3 answers with the
//     current one);
//   - implements CopyObject itself, because gofakes3 ignores the versionId
//     of x-amz-copy-source (it copies the current version) and reports the
//     source's version ID as the copy's; the copy honours the metadata and
//     tagging directives.
//
// Everything else (PUT, GET with ranges and response-* overrides, DELETE,
// versions, listing) is gofakes3's. Only path-style addressing
// (http://host/bucket/key) is supported. Objects live in memory.
package s3local

import (
	"bytes"
	"cmp"
	"crypto/md5"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Config configures a Server.
type Config struct {
	// Buckets are created, with versioning enabled, when the Server is.
	Buckets []string
	// Region is the region signatures must be scoped to.
	Region string
	// Credentials, when AccessKeyID is set, are the only ones accepted:
	// every request must then be signed with them. With no AccessKeyID no
	// signature is checked (as with plain gofakes3).
	Credentials aws.Credentials
	// Now tells the time against which presigned URLs expire; time.Now when
	// nil.
	Now func() time.Time
}

// Server is an http.Handler speaking S3. It is safe for concurrent use.
type Server struct {
	backend *s3mem.Backend
	fake    http.Handler
	region  string
	creds   aws.Credentials
	now     func() time.Time

	mu   sync.Mutex
	tags map[versionKey]map[string]string
}

type versionKey struct{ bucket, key, version string }

// New returns a Server with the configured buckets, empty.
func New(cfg Config) (*Server, error) {
	if cfg.Region == "" {
		return nil, errors.New("s3local: region is empty")
	}
	backend := s3mem.New()
	for _, b := range cfg.Buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("s3local: create bucket %q: %w", b, err)
		}
		if err := backend.SetVersioningConfiguration(b, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
			return nil, fmt.Errorf("s3local: enable versioning of %q: %w", b, err)
		}
	}
	s := &Server{
		backend: backend,
		fake:    gofakes3.New(backend).Server(),
		region:  cfg.Region,
		creds:   cfg.Credentials,
		now:     cfg.Now,
		tags:    map[versionKey]map[string]string{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// ServeHTTP answers one S3 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if sum := r.Header.Get("X-Amz-Checksum-Sha256"); sum != "" && r.Method == http.MethodPut {
		if body == nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				s3Error(w, http.StatusBadRequest, "IncompleteBody", "The request body could not be read.")
				return
			}
		}
		got := sha256.Sum256(body)
		if sum != base64.StdEncoding.EncodeToString(got[:]) {
			s3Error(w, http.StatusBadRequest, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
			return
		}
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}

	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	version := q.Get("versionId")
	if version == "null" {
		version = ""
	}
	switch _, tagging := q["tagging"]; {
	case tagging && key != "":
		s.tagging(w, r, bucket, key, version)
	case r.Method == http.MethodPut && key != "" && r.Header.Get("X-Amz-Copy-Source") != "":
		s.copyObject(w, r, bucket, key)
	case r.Method == http.MethodHead && key != "" && version != "":
		s.headVersion(w, bucket, key, version)
	case r.Method == http.MethodDelete && key != "" && version != "":
		s.fake.ServeHTTP(w, r)
		s.mu.Lock()
		delete(s.tags, versionKey{bucket, key, version})
		s.mu.Unlock()
	default:
		s.fake.ServeHTTP(w, r)
	}
}

// object returns the metadata of one version of key (the current one for
// ""), without its body.
func (s *Server) object(bucket, key, version string) (*gofakes3.Object, error) {
	obj, err := s.backend.HeadObjectVersion(bucket, key, gofakes3.VersionID(version))
	if err != nil {
		return nil, err
	}
	_ = obj.Contents.Close()
	if obj.IsDeleteMarker {
		return nil, errDeleteMarker
	}
	return obj, nil
}

// errDeleteMarker is the error of a request for a version that is a delete
// marker.
var errDeleteMarker = errors.New("the version is a delete marker")

func (s *Server) headVersion(w http.ResponseWriter, bucket, key, version string) {
	obj, err := s.object(bucket, key, version)
	if err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	for k, v := range obj.Metadata {
		h.Set(k, v)
	}
	h.Set("X-Amz-Version-Id", string(obj.VersionID))
	h.Set("ETag", `"`+hex.EncodeToString(obj.Hash)+`"`)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	w.WriteHeader(http.StatusOK)
}

// tagging is the XML document of GetObjectTagging and PutObjectTagging.
type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Tags    []tag    `xml:"TagSet>Tag"`
}

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func (s *Server) tagging(w http.ResponseWriter, r *http.Request, bucket, key, version string) {
	obj, err := s.object(bucket, key, version)
	if err != nil {
		writeError(w, err)
		return
	}
	id := versionKey{bucket, key, string(obj.VersionID)}
	if id.version != "" {
		w.Header().Set("X-Amz-Version-Id", id.version)
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		doc := tagging{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/", Tags: []tag{}}
		for _, k := range slices.Sorted(maps.Keys(s.tags[id])) {
			doc.Tags = append(doc.Tags, tag{k, s.tags[id][k]})
		}
		s.mu.Unlock()
		writeXML(w, doc)
	case http.MethodPut:
		var doc tagging
		if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&doc); err != nil {
			s3Error(w, http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
			return
		}
		tags, err := checkTags(doc.Tags)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "InvalidTag", err.Error())
			return
		}
		s.mu.Lock()
		s.tags[id] = tags
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.tags, id)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
}

// checkTags applies S3's limits: at most 10 tags, unique keys of 1 to 128
// characters, values of at most 256.
func checkTags(list []tag) (map[string]string, error) {
	if len(list) > 10 {
		return nil, errors.New("Object tags cannot be greater than 10")
	}
	tags := make(map[string]string, len(list))
	for _, t := range list {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return nil, errors.New("The TagKey or TagValue you have provided is too long or empty")
		}
		if _, dup := tags[t.Key]; dup {
			return nil, errors.New("Cannot provide multiple Tags with the same key")
		}
		tags[t.Key] = t.Value
	}
	return tags, nil
}

// copyObject implements CopyObject with the source version honoured.
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	source := r.Header.Get("X-Amz-Copy-Source")
	srcPath, rawQuery, _ := strings.Cut(source, "?")
	srcPath, err := url.PathUnescape(strings.TrimPrefix(srcPath, "/"))
	srcBucket, srcKey, ok := strings.Cut(srcPath, "/")
	srcQuery, qerr := url.ParseQuery(rawQuery)
	if err != nil || qerr != nil || !ok || srcKey == "" {
		s3Error(w, http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
		return
	}
	srcVersion := srcQuery.Get("versionId")
	if srcVersion == "null" {
		srcVersion = ""
	}
	src, err := s.backend.GetObjectVersion(srcBucket, srcKey, gofakes3.VersionID(srcVersion), nil)
	if err != nil {
		writeError(w, err)
		return
	}
	defer src.Contents.Close()
	if src.IsDeleteMarker {
		s3Error(w, http.StatusBadRequest, "InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id.")
		return
	}
	body, err := io.ReadAll(src.Contents)
	if err != nil {
		writeError(w, err)
		return
	}

	meta := map[string]string{}
	switch d := r.Header.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
		for k, v := range src.Metadata {
			if keptMetadata(k) {
				meta[k] = v
			}
		}
	case "REPLACE":
		for k := range r.Header {
			if keptMetadata(k) && !strings.HasPrefix(k, "X-Amz-Checksum-") {
				meta[k] = r.Header.Get(k)
			}
		}
	default:
		s3Error(w, http.StatusBadRequest, "InvalidArgument", "Unknown metadata directive.")
		return
	}
	now := s.now()
	meta["Last-Modified"] = now.UTC().Format(http.TimeFormat)

	var tags map[string]string
	switch d := r.Header.Get("X-Amz-Tagging-Directive"); d {
	case "", "COPY":
		s.mu.Lock()
		tags = maps.Clone(s.tags[versionKey{srcBucket, srcKey, string(src.VersionID)}])
		s.mu.Unlock()
	case "REPLACE":
		q, err := url.ParseQuery(r.Header.Get("X-Amz-Tagging"))
		var list []tag
		for k := range q {
			list = append(list, tag{k, q.Get(k)})
		}
		if err == nil {
			tags, err = checkTags(list)
		}
		if err != nil {
			s3Error(w, http.StatusBadRequest, "InvalidTag", "The x-amz-tagging header is not valid.")
			return
		}
	default:
		s3Error(w, http.StatusBadRequest, "InvalidArgument", "Unknown tagging directive.")
		return
	}

	res, err := s.backend.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), nil)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(tags) > 0 {
		s.mu.Lock()
		s.tags[versionKey{bucket, key, string(res.VersionID)}] = tags
		s.mu.Unlock()
	}
	sum := md5.Sum(body)
	if res.VersionID != "" {
		w.Header().Set("X-Amz-Version-Id", string(res.VersionID))
	}
	if src.VersionID != "" {
		w.Header().Set("X-Amz-Copy-Source-Version-Id", string(src.VersionID))
	}
	writeXML(w, gofakes3.CopyObjectResult{ETag: `"` + hex.EncodeToString(sum[:]) + `"`, LastModified: gofakes3.NewContentTime(now)})
}

// keptMetadata reports whether gofakes3's stored header k describes the
// object (and so travels with a copy) rather than the request that stored
// it.
func keptMetadata(k string) bool {
	switch k {
	case "Content-Type", "Content-Disposition", "Content-Encoding":
		return true
	}
	return strings.HasPrefix(k, "X-Amz-Meta-") || strings.HasPrefix(k, "X-Amz-Checksum-")
}

func writeXML(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// writeError answers with the S3 error that err (from gofakes3 or its
// backend) stands for.
func writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, errDeleteMarker) {
		w.Header().Set("X-Amz-Delete-Marker", "true")
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	code := gofakes3.ErrInternal
	var coded interface{ ErrorCode() gofakes3.ErrorCode }
	if errors.As(err, &coded) {
		code = coded.ErrorCode()
	}
	s3Error(w, code.Status(), string(code), cmp.Or(code.Message(), string(code)))
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
