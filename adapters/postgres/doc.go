// Package postgres is gatehouse's PostgreSQL adapter: connections (bun with
// pgdialect over pgx's database/sql driver), the schema migrator built on the
// atlas library, the readiness probe that refuses an unmigrated database, and
// Store, the storage ports (unit of work, users, one-time tokens, sessions,
// rate limits, outbox, uploads).
//
// Two rules hold for everything here. TLS to the database is never optional:
// Open refuses, before any network traffic, a connection string whose TLS
// could be switched off (sslmode disable, allow or prefer). And vendor errors
// stop at this package's edge: callers see *domain.Error kinds (unreachable or
// overloaded database → KindUnavailable, unique violation → KindConflict, no
// rows → KindNotFound or the code the port names), with the driver's error
// wrapped for the logs.
//
// Store's transaction travels in the context (ports.Tx): every store method
// called with the context WithinTx hands out runs in that transaction, and
// the same method without one runs on the pool. Statements use real
// placeholders, so pgx prepares each once per connection; see Store.
//
// The service connects as the app role, which can read and write rows but not
// change structure; only the Migrator, connected as the migrator role, applies
// schema/schema.pg.hcl. The test harness that starts a private TLS-enabled
// cluster lives in the pgtest subpackage.
package postgres
