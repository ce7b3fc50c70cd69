package s3

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/ports"
)

// SDKPresignPut presigns req, unchecked, with the SDK's presign client, as
// the store does when it cannot presign by hand; tests compare PresignPut
// with it.
func SDKPresignPut(ctx context.Context, s *ObjectStore, req ports.PutRequest, expires time.Duration) (ports.PresignedRequest, error) {
	return s.sdkPresignPut(ctx, "s3.PresignPut", req, expires)
}

// SDKPresignGet is SDKPresignPut for PresignGet.
func SDKPresignGet(ctx context.Context, s *ObjectStore, req ports.GetRequest, expires time.Duration) (ports.PresignedRequest, error) {
	return s.sdkPresignGet(ctx, "s3.PresignGet", req, expires)
}

// PresignsByHand reports whether s presigns without the SDK's presign client.
func PresignsByHand(s *ObjectStore) bool { return s.hand != nil }

// SetPresignClock makes s sign at the times now returns, when it presigns by
// hand. Call it before using s.
func SetPresignClock(s *ObjectStore, now func() time.Time) {
	if s.hand != nil {
		s.hand.now = now
	}
}
