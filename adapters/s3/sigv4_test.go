package s3

// Differential tests of queryPresigner: every presigned URL and header set
// it makes is compared with what the SDK's v4.Signer.PresignHTTP makes of
// the *http.Request that handPresigner built before it had its own signer
// (oldPut and oldGet below are that code). The inputs are hostile on
// purpose and skip the ports checks: what the checks let through today may
// grow, and the signer must not depend on them.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/ports"
)

// sigEndpoints are endpoints as the SDK's resolver may give them, and some
// it would not: default ports (which are not signed), IPv6 literals with and
// without zones, upper case, an empty port.
var sigEndpoints = []struct{ scheme, host, prefix string }{
	{"http", "127.0.0.1:9000", "/gatehouse-test/"},
	{"http", "127.0.0.1:9000", "/"},
	{"https", "gatehouse-test.s3.eu-west-1.amazonaws.com", "/"},
	{"https", "s3.us-east-1.amazonaws.com", "/media.example.test/"},
	{"https", "storage.test:443", "/s3/gatehouse-test/"},
	{"http", "storage.test:80", "/b/"},
	{"https", "storage.test:80", "/b/"},
	{"http", "[::1]:9000", "/b/"},
	{"https", "[::1]:443", "/b/"},
	{"http", "[fe80::1%en0]:80", "/b/"},
	{"https", "MinIO.Test:8443", "/Bucket_1~.x/"},
	{"http", "storage.test:", "/"},
}

// sigScopes are signing regions and names: S3's, and hostile ones the
// rules do not produce.
var sigScopes = []struct{ region, service string }{
	{"eu-west-1", "s3"},
	{"us-east-1", "s3"},
	{"us-gov-west-1", "s3-outposts"},
	{"cn-north-1", "s3-object-lambda"},
	{"weird region/ü+%", "svc name~*"},
}

// allBytes has every byte value once.
var allBytes = func() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}()

var (
	sigKeys = []string{
		"uploads/0196f0c2-7a3e-7b1d-9c4e-5f6a7b8c9d0e", "", "a", " ", "with space", "plus+sign", "per%cent%2Fnot-a-slash%zz",
		"tilde~", "%7E", "/", "//", "/leading", "trailing/", "a//b", "a/./b/../c", "unicode/résumé 日本語 🙂.pdf", "\xff\xfe invalid",
		"sub-delims!$'()*,;:@[]", "eq=amp&question?hash#", "crlf\r\n", "*", allBytes, strings.Repeat("k", 1024),
		strings.Repeat("é", 512),
	}
	sigContentTypes = []string{
		"text/plain; charset=utf-8", "", " ", "\t", "  text/plain  ", "\ttext/plain\t", " \t text/plain \t ",
		"text/plain;  charset=utf-8", "multiple   inner    spaces", "a \t  b", "a\t\tb", "a  \t  b",
		"\u00a0nbsp\u00a0", "\u3000ideographic\u3000", "\u0085nel\u0085", "  \u00a0  x  \u00a0  ", "x\r\n", "\r\nx",
		"a,b", "ünïcödé", "\xff invalid \xc2", "\xc2  \x85", allBytes, strings.Repeat(" x ", 200),
	}
	sigFilenames = []string{
		"report.pdf", `résumé "final".pdf`, "a&b=c?; d.txt", "", " ", "100%.txt", "+plus+.txt", "~tilde", "new\nline",
		"tab\t", "🙂.png", "../../etc/passwd", "\xff", allBytes, strings.Repeat("x", 300),
	}
	sigVersions = []string{"", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "v/1 2=3&4?", "null", "%7E~", "ü", " ", allBytes}
	sigTokens   = []string{
		"", "FwoGZXIvYXdzE+token/with=specials", "with space", "ü", "%7E~*", allBytes,
		strings.Repeat("IQoJb3JpZ2luX2VjE+/=", 60),
	}
	sigKeyIDs   = []string{"AKIDGATEHOUSETEST", "AKID/with+specials=", "AKID with space", "ü", allBytes}
	sigSecrets  = []string{"gatehouse/test/secret/access/key", "", "ünïcode/secret+=", allBytes, strings.Repeat("s", 200)}
	sigExpiries = []time.Duration{time.Second, 90*time.Second + 500*time.Millisecond, 15 * time.Minute, ports.MaxPresignExpiry, 0, -time.Second, 1 << 62}
	sigSizes    = []int64{1234567, 1, 0, -1, 1<<63 - 1}
	sigTimes    = []time.Time{
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 14, 0, 0, 0, time.FixedZone("+14", 14*3600)),   // the day before in UTC
		time.Date(2026, 11, 26, 23, 30, 0, 0, time.FixedZone("-12", -12*3600)), // the day after in UTC
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 15, 0, 0, 0, 0, time.UTC),
	}
)

func sha256Of(s string) []byte { sum := sha256.Sum256([]byte(s)); return sum[:] }

var sigChecksums = [][]byte{nil, sha256Of("hello"), {}, {0xff, 0, 1}}

// sigCase is one differential comparison.
type sigCase struct {
	endpoint, scope int
	creds           aws.Credentials
	at              time.Time
	expires         time.Duration
	put             ports.PutRequest
	get             ports.GetRequest
}

func (c sigCase) presigner() *handPresigner {
	e, sc := sigEndpoints[c.endpoint%len(sigEndpoints)], sigScopes[c.scope%len(sigScopes)]
	return newHandPresignerFor(e.scheme, e.host, e.prefix, sc.service, sc.region, staticCreds(c.creds))
}

func staticCreds(c aws.Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
}

// sdkPresign presigns r as handPresigner did before it had its own signer,
// with a new SDK signer each time (so that a key the SDK cached for the same
// access key ID but another secret cannot be used).
func sdkPresign(t testing.TB, p *handPresigner, creds aws.Credentials, at time.Time, r *http.Request, expires time.Duration) ports.PresignedRequest {
	t.Helper()
	signer := v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
	at = at.UTC().Truncate(time.Second)
	signedURL, signed, err := signer.PresignHTTP(context.Background(), creds, r, unsignedPayload, p.signingName, p.signingRegion, at)
	if err != nil {
		t.Errorf("SDK PresignHTTP: %v", err) // not Fatalf: it may run in another goroutine
		return ports.PresignedRequest{}
	}
	return ports.PresignedRequest{Method: r.Method, URL: signedURL, Headers: clientHeaders(signed), ExpiresAt: at.Add(expires.Truncate(time.Second))}
}

// oldRequest is the request handPresigner's presign built for the SDK's
// signer.
func oldRequest(p *handPresigner, method, key, query string, header http.Header, contentLength int64) *http.Request {
	return &http.Request{
		Method: method,
		URL: &url.URL{
			Scheme:   p.scheme,
			Host:     p.host,
			Path:     p.pathPrefix + key,
			RawPath:  p.pathPrefix + httpbinding.EscapePath(key, false),
			RawQuery: query,
		},
		Header:        header,
		ContentLength: contentLength,
	}
}

// oldPut is what handPresigner.put made with the SDK's signer.
func oldPut(t testing.TB, p *handPresigner, creds aws.Credentials, at time.Time, req ports.PutRequest, expires time.Duration) ports.PresignedRequest {
	header := http.Header{"Content-Type": {req.ContentType}}
	if req.SHA256 != nil {
		header["X-Amz-Checksum-Sha256"] = []string{base64.StdEncoding.EncodeToString(req.SHA256)}
	}
	query := "X-Amz-Expires=" + strconv.FormatInt(int64(expires/time.Second), 10) + "&x-id=PutObject"
	return sdkPresign(t, p, creds, at, oldRequest(p, http.MethodPut, req.Key, query, header, req.Size), expires)
}

// oldGet is what handPresigner.get made with the SDK's signer.
func oldGet(t testing.TB, p *handPresigner, creds aws.Credentials, at time.Time, req ports.GetRequest, expires time.Duration) ports.PresignedRequest {
	var q strings.Builder
	q.WriteString("X-Amz-Expires=")
	q.WriteString(strconv.FormatInt(int64(expires/time.Second), 10))
	q.WriteString("&response-content-disposition=")
	q.WriteString(url.QueryEscape(ports.AttachmentDisposition(req.Filename)))
	q.WriteString("&response-content-type=")
	q.WriteString(url.QueryEscape(req.ContentType))
	if req.VersionID != "" {
		q.WriteString("&versionId=")
		q.WriteString(url.QueryEscape(req.VersionID))
	}
	q.WriteString("&x-id=GetObject")
	return sdkPresign(t, p, creds, at, oldRequest(p, http.MethodGet, req.Key, q.String(), http.Header{}, 0), expires)
}

// check presigns c's PUT and GET with queryPresigner directly and through
// handPresigner, and wants both identical to the SDK's.
func (c sigCase) check(t testing.TB) {
	t.Helper()
	p := c.presigner()
	p.now = func() time.Time { return c.at }
	ctx := context.Background()
	at := c.at.Truncate(time.Second) // in c.at's zone: the signer must sign in UTC

	wantPut := oldPut(t, p, c.creds, c.at, c.put, c.expires)
	in := putInput(c.put, c.expires)
	compareSigned(t, c, "PUT", p, &in, at, wantPut)
	got, err := p.put(ctx, c.put, c.expires)
	compareResult(t, c, "handPresigner.put", got, err, wantPut)

	wantGet := oldGet(t, p, c.creds, c.at, c.get, c.expires)
	in = getInput(c.get, c.expires)
	compareSigned(t, c, "GET", p, &in, at, wantGet)
	got, err = p.get(ctx, c.get, c.expires)
	compareResult(t, c, "handPresigner.get", got, err, wantGet)
}

func compareSigned(t testing.TB, c sigCase, what string, p *handPresigner, in *presignInput, at time.Time, want ports.PresignedRequest) {
	t.Helper()
	gotURL, gotHeaders, ok := p.query.presign(c.creds, at, in)
	if !ok {
		t.Fatalf("%s: queryPresigner declined %+v", what, *in)
	}
	if gotURL != want.URL || !cmp.Equal(gotHeaders, want.Headers) {
		t.Fatalf("%s of %s differs from the SDK's:\n got %s\n     %q\nwant %s\n     %q", what, c, gotURL, gotHeaders, want.URL, want.Headers)
	}
}

func compareResult(t testing.TB, c sigCase, what string, got ports.PresignedRequest, err error, want ports.PresignedRequest) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s of %s: %v", what, c, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s of %s differs from the SDK's (-SDK +by hand):\n%s", what, c, d)
	}
}

func (c sigCase) String() string {
	e, sc := sigEndpoints[c.endpoint%len(sigEndpoints)], sigScopes[c.scope%len(sigScopes)]
	return fmt.Sprintf("{endpoint %s://%s%s, scope %q/%q, creds %.60q/%.60q/%.60q, at %s, expires %v, put %.80q %.60q size %d sha256 %x (nil %v), get %.80q %.60q %.60q version %.60q}",
		e.scheme, e.host, e.prefix, sc.region, sc.service, c.creds.AccessKeyID, c.creds.SecretAccessKey, c.creds.SessionToken,
		c.at.Format(time.RFC3339Nano), c.expires, c.put.Key, c.put.ContentType, c.put.Size, c.put.SHA256, c.put.SHA256 == nil,
		c.get.Key, c.get.ContentType, c.get.Filename, c.get.VersionID)
}

// randomString is a string of up to 40 characters, weighted toward those
// escaping and canonicalisation treat specially.
func randomString(r *rand.Rand) string {
	pool := []string{" ", "  ", "\t", "+", "%", "%2F", "~", "/", "//", "*", "=", "&", "?", "#", ";", ",", "\u00a0", "\u3000", "\u0085", "é", "🙂", "\r\n"}
	var b strings.Builder
	for range r.IntN(41) {
		switch r.IntN(4) {
		case 0:
			b.WriteByte(byte(r.IntN(256)))
		case 1:
			b.WriteString(pool[r.IntN(len(pool))])
		default:
			b.WriteByte("abcXYZ019-._"[r.IntN(12)])
		}
	}
	return b.String()
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// randomCase mixes the hostile lists with random strings.
func randomCase(r *rand.Rand) sigCase {
	str := func(list []string) string {
		if r.IntN(3) == 0 {
			return randomString(r)
		}
		return pick(r, list)
	}
	at := pick(r, sigTimes)
	if r.IntN(2) == 0 {
		at = time.Unix(r.Int64N(1<<35)-1<<33, r.Int64N(1e9))
	}
	return sigCase{
		endpoint: r.IntN(len(sigEndpoints)),
		scope:    r.IntN(len(sigScopes)),
		creds:    aws.Credentials{AccessKeyID: str(sigKeyIDs), SecretAccessKey: str(sigSecrets), SessionToken: str(sigTokens)},
		at:       at,
		expires:  pick(r, sigExpiries),
		put:      ports.PutRequest{Key: str(sigKeys), ContentType: str(sigContentTypes), Size: pick(r, sigSizes), SHA256: pick(r, sigChecksums)},
		get:      ports.GetRequest{Key: str(sigKeys), ContentType: str(sigContentTypes), Filename: str(sigFilenames), VersionID: str(sigVersions)},
	}
}

// TestQueryPresignerMatchesSDK goes through every hostile value of each kind
// on every endpoint and scope, then through random combinations.
func TestQueryPresignerMatchesSDK(t *testing.T) {
	t.Parallel()
	i := 0
	next := func() int { i++; return i }
	for e := range sigEndpoints {
		for s := range sigScopes {
			for range 8 {
				n := next()
				sigCase{
					endpoint: e,
					scope:    s,
					creds:    aws.Credentials{AccessKeyID: sigKeyIDs[n%len(sigKeyIDs)], SecretAccessKey: sigSecrets[n%len(sigSecrets)], SessionToken: sigTokens[n%len(sigTokens)]},
					at:       sigTimes[n%len(sigTimes)],
					expires:  sigExpiries[n%len(sigExpiries)],
					put:      ports.PutRequest{Key: sigKeys[n%len(sigKeys)], ContentType: sigContentTypes[n%len(sigContentTypes)], Size: sigSizes[n%len(sigSizes)], SHA256: sigChecksums[n%len(sigChecksums)]},
					get:      ports.GetRequest{Key: sigKeys[(n+1)%len(sigKeys)], ContentType: sigContentTypes[(n+1)%len(sigContentTypes)], Filename: sigFilenames[n%len(sigFilenames)], VersionID: sigVersions[n%len(sigVersions)]},
				}.check(t)
			}
		}
	}
	// Each list through once more, in full, on one endpoint.
	base := sigCase{creds: aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, at: sigTimes[0], expires: time.Minute,
		put: ports.PutRequest{Key: "k", ContentType: "text/plain", Size: 5}, get: ports.GetRequest{Key: "k", ContentType: "text/plain", Filename: "f"}}
	for _, v := range sigKeys {
		c := base
		c.put.Key, c.get.Key = v, v
		c.check(t)
	}
	for _, v := range sigContentTypes {
		c := base
		c.put.ContentType, c.get.ContentType = v, v
		c.check(t)
	}
	for _, v := range sigFilenames {
		c := base
		c.get.Filename = v
		c.check(t)
	}
	for _, v := range sigVersions {
		c := base
		c.get.VersionID = v
		c.check(t)
	}
	for _, v := range sigTokens {
		c := base
		c.creds.SessionToken = v
		c.check(t)
	}
	for _, v := range sigChecksums {
		c := base
		c.put.SHA256 = v
		c.check(t)
	}
	for _, v := range sigSizes {
		c := base
		c.put.Size = v
		c.check(t)
	}
	for _, v := range sigTimes {
		c := base
		c.at = v
		c.check(t)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		randomCase(r).check(t)
	}
}

// FuzzQueryPresignerMatchesSDK is TestQueryPresignerMatchesSDK with the
// inputs chosen by the fuzzer; go test runs the seeds.
func FuzzQueryPresignerMatchesSDK(f *testing.F) {
	type seed struct {
		key, contentType, filename, version, keyID, secret, token string
		checksum                                                  []byte
		hasChecksum                                               bool
		size, unixSeconds, expiresSeconds                         int64
		setup                                                     uint16
	}
	seeds := []seed{
		{"uploads/k", "text/plain", "f.txt", "", "AKID", "secret", "", nil, false, 5, 1798761599, 60, 0},
		{"with space/+/%/~//", "  text/plain;  charset=utf-8\t", "résumé \"final\".pdf", "v/1 2=3&4?", "AKID", "secret", "tok+/=", sha256Of("x"), true, 1, 1798761600, 604800, 7},
		{allBytes, allBytes, allBytes, allBytes, allBytes, allBytes, allBytes, []byte{}, true, 0, 0, 0, 13},
		{"\xff\xfe", "\u00a0 a  b \u3000", "\n", "null", "ü", "", " ", []byte{1, 2, 3}, true, -1, -62135596800, -1, 59},
		{"//", "\t\t", "", "%7E", "AKID with space", "ünïcode", strings.Repeat("IQoJ+/=", 100), nil, false, 1<<63 - 1, 253402300799, 1 << 40, 31},
		{"a", "\r\nx\r\n", "~", "+", "a/b", "s", "%", sha256Of(""), true, 1234567, 1798761599, 900, 44},
	}
	for _, s := range seeds {
		f.Add(s.key, s.contentType, s.filename, s.version, s.keyID, s.secret, s.token, s.checksum, s.hasChecksum, s.size, s.unixSeconds, s.expiresSeconds, s.setup)
	}
	f.Fuzz(func(t *testing.T, key, contentType, filename, version, keyID, secret, token string, checksum []byte, hasChecksum bool, size, unixSeconds, expiresSeconds int64, setup uint16) {
		if !hasChecksum {
			checksum = nil
		} else if checksum == nil {
			checksum = []byte{}
		}
		sigCase{
			endpoint: int(setup) % len(sigEndpoints),
			scope:    int(setup) / len(sigEndpoints),
			creds:    aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: token},
			at:       time.Unix(unixSeconds, 0),
			expires:  time.Duration(expiresSeconds) * time.Second,
			put:      ports.PutRequest{Key: key, ContentType: contentType, Size: size, SHA256: checksum},
			get:      ports.GetRequest{Key: key, ContentType: contentType, Filename: filename, VersionID: version},
		}.check(t)
	})
}

// TestSigningKeyCache signs across midnight UTC and across credential
// rotations (a new secret under the same access key ID, then a new key ID)
// and wants the cached key replaced each time, reused otherwise, and every
// URL the SDK's.
func TestSigningKeyCache(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		creds = aws.Credentials{AccessKeyID: "AKIDONE", SecretAccessKey: "secret-one"}
	)
	p := newHandPresignerFor("https", "storage.test", "/b/", "s3", "eu-west-1", aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		return creds, nil
	}))
	steps := []struct {
		name    string
		at      time.Time
		creds   aws.Credentials
		derived bool // a new key must be derived
		date    string
	}{
		{"first use", time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC), creds, true, "20261231"},
		{"same day", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), creds, false, "20261231"},
		{"after midnight UTC", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), creds, true, "20270101"},
		{"same day, another zone", time.Date(2026, 12, 31, 19, 0, 30, 0, time.FixedZone("-05", -5*3600)), creds, false, "20270101"},
		{"secret rotated under the same key ID", time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC), aws.Credentials{AccessKeyID: "AKIDONE", SecretAccessKey: "secret-two"}, true, "20270101"},
		{"new key ID and secret, with a session token", time.Date(2027, 1, 1, 0, 0, 2, 0, time.UTC), aws.Credentials{AccessKeyID: "ASIATWO", SecretAccessKey: "secret-three", SessionToken: "token"}, true, "20270101"},
		{"new session token only", time.Date(2027, 1, 1, 0, 0, 3, 0, time.UTC), aws.Credentials{AccessKeyID: "ASIATWO", SecretAccessKey: "secret-three", SessionToken: "token-2"}, false, "20270101"},
		{"back to the first secret", time.Date(2027, 1, 1, 0, 0, 4, 0, time.UTC), aws.Credentials{AccessKeyID: "AKIDONE", SecretAccessKey: "secret-one"}, true, "20270101"},
		{"back in time", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), aws.Credentials{AccessKeyID: "AKIDONE", SecretAccessKey: "secret-one"}, true, "20261231"},
	}
	put := ports.PutRequest{Key: "uploads/k", ContentType: "text/plain", Size: 5, SHA256: sha256Of("hello")}
	get := ports.GetRequest{Key: "downloads/k", ContentType: "text/plain", Filename: "k.txt", VersionID: "v1"}
	ctx := context.Background()
	var last *signingKey
	var lastSig string
	for _, step := range steps {
		mu.Lock()
		creds = step.creds
		mu.Unlock()
		p.now = func() time.Time { return step.at }
		got, err := p.put(ctx, put, time.Minute)
		compareResult(t, sigCase{creds: step.creds, at: step.at}, step.name+": put", got, err, oldPut(t, p, step.creds, step.at, put, time.Minute))
		k := p.query.key.Load()
		if derived := k != last; derived != step.derived {
			t.Errorf("%s: new signing key derived: %v, want %v", step.name, derived, step.derived)
		}
		if k.secret != step.creds.SecretAccessKey || k.date != step.date || k.region != "eu-west-1" || k.service != "s3" {
			t.Errorf("%s: cached key for %q %s %s/%s, want %q %s eu-west-1/s3", step.name, k.secret, k.date, k.region, k.service, step.creds.SecretAccessKey, step.date)
		}
		if want := deriveSigningKey(step.creds.SecretAccessKey, step.date, "eu-west-1", "s3"); k.key != want {
			t.Errorf("%s: cached key %x, want %x", step.name, k.key, want)
		}
		sig := got.URL[strings.LastIndex(got.URL, "=")+1:]
		if sig == lastSig {
			t.Errorf("%s: same signature as the previous step", step.name)
		}
		got, err = p.get(ctx, get, time.Minute)
		compareResult(t, sigCase{creds: step.creds, at: step.at}, step.name+": get", got, err, oldGet(t, p, step.creds, step.at, get, time.Minute))
		if p.query.key.Load() != k {
			t.Errorf("%s: GET derived another key", step.name)
		}
		last, lastSig = k, sig
	}
}

// TestQueryPresignerConcurrent presigns from many goroutines at once, with
// credentials and days that change under each other, so that the key cache
// keeps being replaced; run it with -race.
func TestQueryPresignerConcurrent(t *testing.T) {
	t.Parallel()
	// Credentials and times are passed to queryPresigner directly.
	p := newHandPresignerFor("http", "127.0.0.1:9000", "/gatehouse-test/", "s3", "eu-west-1", nil)
	credSets := []aws.Credentials{
		{AccessKeyID: "AKIDONE", SecretAccessKey: "secret-one"},
		{AccessKeyID: "AKIDONE", SecretAccessKey: "secret-two"}, // rotated under the same key ID
		{AccessKeyID: "ASIATHREE", SecretAccessKey: "secret-three", SessionToken: "token+/="},
	}
	times := []time.Time{
		time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 2, 12, 0, 0, 0, time.UTC),
	}
	const goroutines, rounds = 16, 60
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for i := range rounds {
				creds, at := pick(r, credSets), pick(r, times)
				put := ports.PutRequest{Key: fmt.Sprintf("uploads/%d/%d %s", g, i, randomString(r)), ContentType: "image/png", Size: int64(i + 1), SHA256: sha256Of(strconv.Itoa(i))}
				in := putInput(put, 15*time.Minute)
				gotURL, gotHeaders, ok := p.query.presign(creds, at, &in)
				want := oldPut(t, p, creds, at, put, 15*time.Minute)
				if !ok || gotURL != want.URL || !cmp.Equal(gotHeaders, want.Headers) {
					t.Errorf("goroutine %d, PUT %d: got %v %s %q, want %s %q", g, i, ok, gotURL, gotHeaders, want.URL, want.Headers)
					return
				}
				get := ports.GetRequest{Key: put.Key, ContentType: "image/png", Filename: randomString(r), VersionID: randomString(r)}
				in = getInput(get, time.Hour)
				gotURL, gotHeaders, ok = p.query.presign(creds, at, &in)
				want = oldGet(t, p, creds, at, get, time.Hour)
				if !ok || gotURL != want.URL || !cmp.Equal(gotHeaders, want.Headers) {
					t.Errorf("goroutine %d, GET %d: got %v %s %q, want %s %q", g, i, ok, gotURL, gotHeaders, want.URL, want.Headers)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestQueryPresignerDeclines gives queryPresigner query parameters it does
// not handle, and wants it to decline them and handPresigner to presign
// them with the SDK's signer instead; and parameters it does handle, whose
// URLs must be the SDK's.
func TestQueryPresignerDeclines(t *testing.T) {
	t.Parallel()
	creds := aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret", SessionToken: "token"}
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		params  []queryParam
		handled bool
	}{
		{"none", nil, true},
		{"after the signer's, in order", []queryParam{{"X-Amz-Zeta", "a b"}, {"Z", "+"}, {"a-b_c.d~", "%"}, {"z", allBytes}}, true},
		{"a signer parameter", []queryParam{{"X-Amz-Date", "20000101T000000Z"}}, false},
		{"the signature", []queryParam{{"X-Amz-Signature", "0"}}, false},
		{"before the signer's", []queryParam{{"X-Amz-Bar", "x"}}, false},
		{"a name that needs escaping", []queryParam{{"a b", "x"}}, false},
		{"an empty name", []queryParam{{"", "x"}}, false},
		{"out of order", []queryParam{{"x-id", "GetObject"}, {"versionId", "v"}}, false},
		{"twice", []queryParam{{"x-id", "a"}, {"x-id", "b"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newHandPresignerFor("https", "storage.test:443", "/b/", "s3", "eu-west-1", staticCreds(creds))
			p.now = func() time.Time { return at }
			in := presignInput{method: http.MethodGet, key: "k ey", expires: 60, contentType: " a  b ", hasContentType: true}
			for _, q := range tc.params {
				in.addParam(q.key, q.value)
			}
			want := sdkPresign(t, p, creds, at, p.sdkRequest(&in), time.Minute)
			gotURL, gotHeaders, ok := p.query.presign(creds, at, &in)
			if ok != tc.handled {
				t.Fatalf("queryPresigner handled %v, want %v", ok, tc.handled)
			}
			if ok && (gotURL != want.URL || !cmp.Equal(gotHeaders, want.Headers)) {
				t.Fatalf("got %s %q, want %s %q", gotURL, gotHeaders, want.URL, want.Headers)
			}
			got, err := p.presign(context.Background(), &in, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("handPresigner differs from the SDK (-SDK +by hand):\n%s", d)
			}
		})
	}
}

// TestHMACSHA256 compares the stack HMAC with crypto/hmac, on both sides of
// its buffer's size.
func TestHMACSHA256(t *testing.T) {
	t.Parallel()
	key := [sha256.Size]byte(sha256Of("key"))
	msg := []byte(strings.Repeat(allBytes, 3))
	for n := range len(msg) {
		mac := hmac.New(sha256.New, key[:])
		mac.Write(msg[:n])
		if got, want := hmacSHA256(&key, msg[:n]), mac.Sum(nil); !hmac.Equal(got[:], want) {
			t.Fatalf("hmacSHA256 of %d bytes: got %x, want %x", n, got, want)
		}
	}
}

// TestSigningHost checks the host signed for an endpoint's host and scheme.
func TestSigningHost(t *testing.T) {
	t.Parallel()
	cases := []struct{ scheme, host, want string }{
		{"https", "storage.test", "storage.test"},
		{"https", "storage.test:443", "storage.test"},
		{"HTTPS", "storage.test:443", "storage.test"},
		{"http", "storage.test:443", "storage.test:443"},
		{"http", "storage.test:80", "storage.test"},
		{"https", "storage.test:80", "storage.test:80"},
		{"http", "127.0.0.1:9000", "127.0.0.1:9000"},
		{"https", "[::1]:443", "::1"},
		{"https", "[::1]", "[::1]"},
		{"http", "[::1]:9000", "[::1]:9000"},
		{"http", "storage.test:", "storage.test:"},
	}
	for _, tc := range cases {
		if got := signingHost(tc.scheme, tc.host); got != tc.want {
			t.Errorf("signingHost(%q, %q) = %q, want %q", tc.scheme, tc.host, got, tc.want)
		}
	}
}
