package postgres

import (
	"time"
)

// SetProbeClock lets tests control the probe's schema-check cache.
func SetProbeClock(p *SchemaProbe, ttl time.Duration, now func() time.Time) {
	p.ttl, p.now = ttl, now
}

// SetRateLimitPurge sets how often the limiter deletes expired windows (every
// every-th call; 0 never) and how many rows one deletion removes.
func SetRateLimitPurge(s *Store, every uint64, batch int) {
	s.purgeEvery, s.purgeBatch = every, batch
}

// SetExpiredPurgeBatch sets how many rows one statement of PurgeExpired
// deletes.
func SetExpiredPurgeBatch(s *Store, batch int) { s.expiredBatch = batch }

// The statements the plan test explains.
const (
	UploadByIDSQL      = uploadByIDSQL
	UploadFirstPageSQL = uploadFirstPageSQL
	UploadNextPageSQL  = uploadNextPageSQL
	UploadByObjectSQL  = uploadByObjectSQL
	StaleUploadsSQL    = staleUploadsSQL
	PurgeSessionsSQL   = purgeSessionsSQL
	PurgeTokensSQL     = purgeTokensSQL
)

// QueueClaimSQL is the dispatcher's claim, for the plan test.
const QueueClaimSQL = queueClaimSQL
