package s3

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// The SigV4 query-string presigner of handPresigner.
//
// The SDK's v4.Signer.PresignHTTP is general: it clones the request, parses
// its query into url.Values, decides per header whether to sign it, hoist it
// into the query or ignore it, sorts both, joins strings and computes the
// signature through hash.Hash and crypto/hmac values. BenchmarkPresignPut
// and BenchmarkPresignGet measured that at about 9 µs and 90 allocations a
// call, most of a presign. queryPresigner produces the same bytes for the
// two request shapes handPresigner makes, and only those: it writes the
// canonical request into one stack buffer (the query in canonical order from
// the start), hashes it, derives the signing key once per secret, day,
// region and service (an atomic pointer to an immutable entry, so concurrent
// calls share it without locks, and a new secret or UTC day replaces it),
// and finishes with one HMAC on stack buffers; the escaped key (smithy's
// httpbinding.EscapePath, which the SDK's serializer uses too), the URL and
// the headers map are its only allocations. A call now costs about 2 µs,
// mostly SHA-256.
//
// What it must reproduce of the SDK (aws/signer/v4 and
// aws/signer/internal/v4), and does:
//
//   - The canonical URI is the path as the request's URL escapes it, not
//     escaped again (DisableURIPathEscaping, as for S3): the endpoint's path
//     prefix, then the key with every byte but A-Z a-z 0-9 - . _ ~ and '/'
//     as %XX (smithy's httpbinding.EscapePath), which url.URL.EscapedPath
//     keeps as the RawPath.
//   - The query holds, besides the request's own parameters, X-Amz-Algorithm,
//     X-Amz-Credential (key ID "/" date "/" region "/" service
//     "/aws4_request"), X-Amz-Date, X-Amz-Expires, X-Amz-Security-Token when
//     the credentials have a session token (in the query, so signed; never
//     as a header) and X-Amz-SignedHeaders. Names and values are escaped
//     with RFC 3986's unreserved set and uppercase hex (a space is %20, '+'
//     is %2B, '~' stays), then sorted by name; the URL's query is that
//     canonical query followed by X-Amz-Signature.
//   - The signed headers are host (without a default port, as
//     SanitizeHostForHeader does), content-length when positive,
//     content-type and x-amz-checksum-sha256 when set (neither is hoisted
//     into the query), in byte order. A header's canonical value is the
//     value trimmed of Unicode white space with runs of spaces (not tabs)
//     collapsed, which is what the SDK's StripExcessSpaces then
//     strings.TrimSpace amount to; the client is told the value as given.
//
// The differential tests are what keep it honest: sigv4_test.go compares
// its URLs and headers with what PresignHTTP makes of the *http.Request
// handPresigner built for it before, over hostile keys, header values,
// credentials, endpoints and times (a fuzz test among them), and
// TestPresignMatchesSDK compares them with the SDK's presign client. The SDK
// may change how it signs; when those tests fail, this file must follow.

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	// amzDateFormat and amzShortDateFormat are X-Amz-Date's format and the
	// credential scope's date, as the SDK formats them.
	amzDateFormat      = "20060102T150405Z"
	amzShortDateFormat = "20060102"
	// lastSignerQueryKey is, in canonical order, the last of the query
	// parameters the presigner adds itself; a request's own parameters
	// must sort after it.
	lastSignerQueryKey = "X-Amz-SignedHeaders"
)

// queryParam is a query parameter of a presigned request, unescaped.
type queryParam struct{ key, value string }

// presignInput is a request for queryPresigner: a handPresigner shape.
type presignInput struct {
	method string
	key    string // the object key, unescaped
	// expires is X-Amz-Expires, in seconds.
	expires int64
	// query[:nquery] are the request's own parameters (X-Amz-Expires and
	// the signer's aside), unescaped. queryPresigner handles only names
	// made of unreserved characters, distinct and in increasing byte order
	// after lastSignerQueryKey; it declines anything else. (An array, not a
	// slice, keeps the input off the heap.)
	query  [4]queryParam
	nquery int
	// contentLength is signed when positive, as the SDK does.
	contentLength int64
	// The Content-Type and x-amz-checksum-sha256 headers, when set (even to
	// "").
	contentType       string
	hasContentType    bool
	checksumSHA256    string
	hasChecksumSHA256 bool
}

// addParam adds the query parameter key=value (unescaped) to in.
func (in *presignInput) addParam(key, value string) {
	in.query[in.nquery] = queryParam{key, value}
	in.nquery++
}

// params are in's own query parameters.
func (in *presignInput) params() []queryParam { return in.query[:in.nquery] }

// queryPresigner presigns, with SigV4 in the query string, requests to one
// endpoint for one signing region and service. It is safe for concurrent
// use.
type queryPresigner struct {
	// urlBase is scheme://host as url.URL.String writes it.
	urlBase string
	// pathPrefix is the canonical URI up to the key: see handPresigner.
	pathPrefix string
	// hostLine is the canonical host header, newline included.
	hostLine        string
	region, service string
	// scope is the credential scope after the date, as signed, and
	// credentialScope the same escaped for X-Amz-Credential.
	scope, credentialScope string
	// key is the last signing key derived.
	key atomic.Pointer[signingKey]
}

// signingKey is a derived SigV4 signing key and what it derives from. It is
// never modified once stored.
type signingKey struct {
	secret, date, region, service string
	key                           [sha256.Size]byte
}

// newQueryPresigner returns the presigner of requests to scheme://host,
// whose paths start with pathPrefix (which needs no escaping).
func newQueryPresigner(scheme, host, pathPrefix, service, region string) *queryPresigner {
	scope := "/" + region + "/" + service + "/aws4_request"
	return &queryPresigner{
		urlBase:         (&url.URL{Scheme: scheme, Host: host}).String(),
		pathPrefix:      pathPrefix,
		hostLine:        "host:" + stripExcessSpaces(signingHost(scheme, host)) + "\n",
		region:          region,
		service:         service,
		scope:           scope,
		credentialScope: string(appendEscaped(nil, scope)),
	}
}

// presign returns the presigned URL of in, signed with creds at at, and the
// headers the client must send (the signed ones but Host and
// Content-Length). ok is false, and nothing else set, when in is not a
// request it can presign exactly as the SDK would (see presignInput.query).
func (s *queryPresigner) presign(creds aws.Credentials, at time.Time, in *presignInput) (signedURL string, headers map[string]string, ok bool) {
	prev := lastSignerQueryKey
	for _, q := range in.params() {
		if q.key <= prev || !unreservedOnly(q.key) {
			return "", nil, false
		}
		prev = q.key
	}
	at = at.UTC()
	var longBuf, shortBuf [24]byte
	amzDate := at.AppendFormat(longBuf[:0], amzDateFormat)
	date := at.AppendFormat(shortBuf[:0], amzShortDateFormat)

	// The canonical request. Time formats yield digits, '-', 'T' and 'Z'
	// only, which need no escaping.
	var buf [4096]byte
	b := append(buf[:0], in.method...)
	b = append(b, '\n')
	pathStart := len(b)
	b = append(b, s.pathPrefix...)
	b = append(b, httpbinding.EscapePath(in.key, false)...)
	pathEnd := len(b)
	b = append(b, '\n')
	queryStart := len(b)
	b = append(b, "X-Amz-Algorithm="+sigV4Algorithm+"&X-Amz-Credential="...)
	b = appendEscaped(b, creds.AccessKeyID)
	b = append(b, "%2F"...)
	b = append(b, date...)
	b = append(b, s.credentialScope...)
	b = append(b, "&X-Amz-Date="...)
	b = append(b, amzDate...)
	b = append(b, "&X-Amz-Expires="...)
	b = strconv.AppendInt(b, in.expires, 10)
	if creds.SessionToken != "" {
		b = append(b, "&X-Amz-Security-Token="...)
		b = appendEscaped(b, creds.SessionToken)
	}
	b = append(b, "&"+lastSignerQueryKey+"="...)
	b = appendSignedHeaders(b, in, "%3B")
	for _, q := range in.params() {
		b = append(b, '&')
		b = append(b, q.key...)
		b = append(b, '=')
		b = appendEscaped(b, q.value)
	}
	queryEnd := len(b)
	b = append(b, '\n')
	if in.contentLength > 0 {
		b = append(b, "content-length:"...)
		b = strconv.AppendInt(b, in.contentLength, 10)
		b = append(b, '\n')
	}
	if in.hasContentType {
		b = append(b, "content-type:"...)
		b = appendCanonicalValue(b, in.contentType)
		b = append(b, '\n')
	}
	b = append(b, s.hostLine...)
	if in.hasChecksumSHA256 {
		b = append(b, "x-amz-checksum-sha256:"...)
		b = appendCanonicalValue(b, in.checksumSHA256)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = appendSignedHeaders(b, in, ";")
	b = append(b, '\n')
	b = append(b, unsignedPayload...)
	canonicalHash := sha256.Sum256(b)

	var stsBuf [256]byte
	sts := append(stsBuf[:0], sigV4Algorithm+"\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, date...)
	sts = append(sts, s.scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, canonicalHash[:])
	sig := hmacSHA256(s.signingKey(creds.SecretAccessKey, date), sts)
	var sigHex [2 * sha256.Size]byte
	hex.Encode(sigHex[:], sig[:])

	const sigParam = "&X-Amz-Signature="
	var u strings.Builder
	u.Grow(len(s.urlBase) + pathEnd - pathStart + 1 + queryEnd - queryStart + len(sigParam) + len(sigHex))
	u.WriteString(s.urlBase)
	u.Write(b[pathStart:pathEnd])
	u.WriteByte('?')
	u.Write(b[queryStart:queryEnd])
	u.WriteString(sigParam)
	u.Write(sigHex[:])

	n := 0
	if in.hasContentType {
		n++
	}
	if in.hasChecksumSHA256 {
		n++
	}
	headers = make(map[string]string, n)
	if in.hasContentType {
		headers["Content-Type"] = in.contentType
	}
	if in.hasChecksumSHA256 {
		headers["X-Amz-Checksum-Sha256"] = in.checksumSHA256
	}
	return u.String(), headers, true
}

// appendSignedHeaders appends the names of the headers in signs, in order,
// separated by sep.
func appendSignedHeaders(b []byte, in *presignInput, sep string) []byte {
	if in.contentLength > 0 {
		b = append(b, "content-length"...)
		b = append(b, sep...)
	}
	if in.hasContentType {
		b = append(b, "content-type"...)
		b = append(b, sep...)
	}
	b = append(b, "host"...)
	if in.hasChecksumSHA256 {
		b = append(b, sep...)
		b = append(b, "x-amz-checksum-sha256"...)
	}
	return b
}

// signingKey returns the signing key of secret on date (YYYYMMDD), deriving
// it only when the last one was for another secret or date. (The SDK's
// cache is keyed by access key ID and day instead, so it keeps signing with
// the old key when a secret is rotated under the same key ID.) Concurrent
// callers may each derive and store a key; every stored key is complete and
// right for what it records.
func (s *queryPresigner) signingKey(secret string, date []byte) *[sha256.Size]byte {
	if k := s.key.Load(); k != nil && k.date == string(date) && k.secret == secret && k.region == s.region && k.service == s.service {
		return &k.key
	}
	k := &signingKey{secret: secret, date: string(date), region: s.region, service: s.service}
	k.key = deriveSigningKey(k.secret, k.date, k.region, k.service)
	s.key.Store(k)
	return &k.key
}

// deriveSigningKey is SigV4's HMAC chain from the secret access key.
func deriveSigningKey(secret, date, region, service string) (key [sha256.Size]byte) {
	k := []byte("AWS4" + secret)
	for _, data := range []string{date, region, service, "aws4_request"} {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(data))
		k = mac.Sum(nil)
	}
	copy(key[:], k)
	return key
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) with a 32-byte key, computed with
// sha256.Sum256 on stack buffers rather than through crypto/hmac, which
// allocates its hashes and pads on every use.
func hmacSHA256(key *[sha256.Size]byte, msg []byte) (sum [sha256.Size]byte) {
	var inner [sha256.BlockSize + 256]byte
	if len(msg) > len(inner)-sha256.BlockSize {
		mac := hmac.New(sha256.New, key[:])
		mac.Write(bytes.Clone(msg)) // msg stays on the caller's stack
		copy(sum[:], mac.Sum(nil))
		return sum
	}
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		inner[i], outer[i] = 0x36, 0x5c
	}
	for i, k := range key {
		inner[i] ^= k
		outer[i] ^= k
	}
	n := copy(inner[sha256.BlockSize:], msg)
	innerSum := sha256.Sum256(inner[:sha256.BlockSize+n])
	copy(outer[sha256.BlockSize:], innerSum[:])
	return sha256.Sum256(outer[:])
}

// unreserved is RFC 3986's unreserved set: A-Z a-z 0-9 - . _ ~.
var unreserved = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
	}
	return t
}()

func unreservedOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !unreserved[s[i]] {
			return false
		}
	}
	return true
}

// appendEscaped appends s with every byte outside the unreserved set as %XX
// in uppercase hex: the SDK's escaping of query names and values
// (url.QueryEscape with %20 for '+'). The key in the path is escaped by
// smithy's httpbinding.EscapePath, as the SDK's S3 serializer does.
func appendEscaped(b []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved[c] {
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xf])
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendCanonicalValue appends a header value as the SDK signs it:
// strings.TrimSpace(StripExcessSpaces(v)). StripExcessSpaces trims spaces
// and collapses runs of them; collapsing commutes with trimming white space
// (a run never straddles the trimmed ends, and a space always remains
// between the bytes it separated), so this trims first and collapses while
// copying.
func appendCanonicalValue(b []byte, v string) []byte {
	return appendCollapsed(b, strings.TrimSpace(v))
}

// stripExcessSpaces is the SDK's canonicalisation of the host header: s
// without leading or trailing spaces, with runs of spaces collapsed.
func stripExcessSpaces(s string) string {
	return string(appendCollapsed(nil, strings.Trim(s, " ")))
}

// appendCollapsed appends s with each run of spaces as one space.
func appendCollapsed(b []byte, s string) []byte {
	for {
		i := strings.Index(s, "  ")
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+1]...)
		s = strings.TrimLeft(s[i+1:], " ")
	}
}

// signingHost is the host the SDK signs for host on scheme
// (SanitizeHostForHeader): without its port when that is the scheme's
// default; an IPv6 literal then loses its brackets too.
func signingHost(scheme, host string) string {
	port := ""
	if colon := strings.IndexByte(host, ':'); colon >= 0 {
		switch i := strings.Index(host, "]:"); {
		case i >= 0:
			port = host[i+len("]:"):]
		case strings.Contains(host, "]"):
		default:
			port = host[colon+len(":"):]
		}
	}
	scheme = strings.ToLower(scheme)
	if port == "" || !(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		return host
	}
	if i := strings.IndexByte(host, ']'); i >= 0 {
		return strings.TrimPrefix(host[:i], "[")
	}
	return host[:strings.IndexByte(host, ':')]
}
