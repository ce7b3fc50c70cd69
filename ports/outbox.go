package ports

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// CodeClaimLost is the code of the domain.KindConflict error with which an
// OutboxQueue refuses to record the outcome of a claim that is no longer
// the row's current one: its lease ran out and another dispatcher claimed
// the row, or the row is already sent or dead.
const CodeClaimLost = "outbox_claim_lost"

// OutboxQueue is the dispatcher's side of the outbox: it hands out due rows
// under a lease and records what became of them. Any number of dispatchers,
// in any number of processes, may use one queue at once: a row is held by
// at most one live claim.
//
// Times are the caller's clock, kept to the microsecond. Errors are
// domain.KindUnavailable when the store is unreachable or slow (or ctx is
// done) and domain.KindInternal for anything else, except where a method
// says otherwise. Calls never join a transaction carried by ctx: a claim or
// an outcome is committed when the call returns.
type OutboxQueue interface {
	// Claim takes up to limit (at least 1) pending rows that are due at now
	// (their next attempt time has come) and not held by a live claim,
	// oldest due first, and holds them until now+lease. A row whose claim
	// has run out is due again. It returns no rows, and no error, when
	// nothing is due.
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]domain.OutboxDelivery, error)

	// MarkSent records that the claimed row was delivered at now after
	// attempts attempts in all; the row is sent for good. When payload is
	// not nil it replaces the stored payload (the mail without its secrets).
	// A claim that is no longer current is a domain.KindConflict error with
	// code CodeClaimLost and changes nothing.
	MarkSent(ctx context.Context, claim domain.OutboxClaim, attempts int, now time.Time, payload []byte) error

	// MarkRetry records a failed attempt: the row has been tried attempts
	// times, failed last with lastErr, and is due again at next. The claim
	// ends. A lost claim is as for MarkSent.
	MarkRetry(ctx context.Context, claim domain.OutboxClaim, attempts int, next time.Time, lastErr string) error

	// MarkDead parks the claimed row as dead after attempts attempts, with
	// the error that made the dispatcher give up; it is never claimed again.
	// When payload is not nil it replaces the stored payload. A lost claim
	// is as for MarkSent.
	MarkDead(ctx context.Context, claim domain.OutboxClaim, attempts int, lastErr string, payload []byte) error

	// Release ends claims whose rows were not attempted (the dispatcher is
	// stopping), so the rows are due again at once without counting an
	// attempt. Claims that are no longer current are skipped silently.
	Release(ctx context.Context, claims []domain.OutboxClaim) error

	// Stats reports, per kind, the work waiting at now. Kinds with no
	// pending row may be missing from the map.
	Stats(ctx context.Context, now time.Time) (map[domain.OutboxKind]domain.OutboxDepth, error)
}

// OutboxObserver is told about every delivery attempt the dispatcher makes,
// for metrics. Implementations must be safe for concurrent use and quick:
// they are called on the delivery path.
type OutboxObserver interface {
	// Attempted reports one attempt at delivering a message of kind, its
	// recorded result and how long the delivery itself took.
	Attempted(kind domain.OutboxKind, result domain.DeliveryResult, elapsed time.Duration)
}
