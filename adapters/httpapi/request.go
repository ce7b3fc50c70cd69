package httpapi

import (
	"context"
	"crypto/rand"
	"sync"
)

// requestInfo is what the middleware knows about one request. It travels in
// the request's context so that huma handlers, error mapping and the access
// log all see the same one.
type requestInfo struct {
	id       string
	clientIP string

	mu    sync.Mutex
	code  string // the problem code, when the answer was a problem
	cause error  // what went wrong, for 5xx answers
}

// record notes the problem sent for the request, for the access log.
func (i *requestInfo) record(p *Problem) {
	if i == nil {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.code = p.Code
	if p.Status >= 500 && p.cause != nil {
		i.cause = p.cause
	}
}

func (i *requestInfo) outcome() (code string, cause error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.code, i.cause
}

type infoKey struct{}

func withInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// infoFrom returns the request's info, or an empty one outside a request.
func infoFrom(ctx context.Context) *requestInfo {
	if ctx != nil {
		if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
			return info
		}
	}
	return &requestInfo{}
}

// RequestID returns the id of the request ctx belongs to (the X-Request-ID
// response header), or "" outside a request served by this package.
func RequestID(ctx context.Context) string { return infoFrom(ctx).id }

// ClientIP returns the client address of the request ctx belongs to: the TCP
// peer, or the nearest untrusted X-Forwarded-For hop when the peer is a
// trusted proxy. It returns "" outside a request served by this package.
func ClientIP(ctx context.Context) string { return infoFrom(ctx).clientIP }

// newRequestID returns a random 128-bit id in base32 (26 characters).
func newRequestID() string { return rand.Text() }
