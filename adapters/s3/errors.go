package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/gatehouse/gatehouse/domain"
)

// Error codes S3 answers with, by what they mean for the caller.
var (
	notFoundCodes = map[string]bool{"NoSuchKey": true, "NotFound": true, "NoSuchVersion": true}
	// Retrying later may succeed.
	transientCodes = map[string]bool{
		"SlowDown": true, "Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
		"TooManyRequestsException": true, "ServiceUnavailable": true, "InternalError": true,
		"RequestTimeout": true, "OperationAborted": true,
	}
	// The credentials or policies are wrong: an operator must act.
	accessCodes = map[string]bool{
		"AccessDenied": true, "AllAccessDisabled": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
		"ExpiredToken": true, "InvalidToken": true, "TokenRefreshRequired": true, "RequestTimeTooSkewed": true,
		"AccountProblem": true,
	}
)

// errorCode returns the S3 error code in err's chain, or "".
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response in err's chain, or 0
// when no response arrived.
func httpStatus(err error) int {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		return resp.HTTPStatusCode()
	}
	return 0
}

// translate turns an SDK error into a *domain.Error of the kind the port
// promises. The SDK has already retried what it could.
func (s *ObjectStore) translate(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		// The operation's timeout or the caller's context ended it.
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	code, status := errorCode(err), httpStatus(err)
	var serialization *smithy.SerializationError
	var params smithy.InvalidParamsError
	switch {
	case code == "NoSuchBucket":
		return domain.Wrap(domain.KindInternal, op, fmt.Errorf("bucket %q does not exist: %w", s.bucket, err))
	case notFoundCodes[code] || status == http.StatusNotFound:
		return domain.Wrap(domain.KindNotFound, op, err)
	case accessCodes[code] || status == http.StatusForbidden:
		return domain.Wrap(domain.KindInternal, op, fmt.Errorf("S3 refused access to bucket %q (check the credentials, the IAM policy and the bucket policy): %w", s.bucket, err))
	case transientCodes[code] || status == http.StatusTooManyRequests || status >= 500:
		return domain.Wrap(domain.KindUnavailable, op, err)
	case status == 0 && !errors.As(err, &serialization) && !errors.As(err, &params):
		// No response: the network, a timeout or the caller's context.
		return domain.Wrap(domain.KindUnavailable, op, err)
	default:
		return domain.Wrap(domain.KindInternal, op, err)
	}
}
