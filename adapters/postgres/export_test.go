package postgres

import "time"

// SetProbeClock lets tests control the probe's schema-check cache.
func SetProbeClock(p *SchemaProbe, ttl time.Duration, now func() time.Time) {
	p.ttl, p.now = ttl, now
}
