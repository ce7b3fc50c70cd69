// Package bench is gatehouse's performance benchmark, behind `make bench`
// and the gatehouse-bench command.
//
// One run starts a private PostgreSQL cluster (adapters/postgres/pgcluster),
// bootstraps the roles with schema/roles.sql and applies the schema as the
// migrator, seeds it with COPY (users, sessions, a million uploads), starts
// `gatehouse serve` on loopback and loads it with a closed-loop HTTP client
// at several concurrencies. Scan verdicts and the outbox dispatcher run in a
// worker process of their own. For each scenario the statements one request
// runs are captured from PostgreSQL's log and replayed by pgbench with the
// prepared protocol: the ceiling the scenario is compared with. The hot read
// is also served by a stack floor (floor.go), a bare net/http + pgx server
// running the same statements, to show how close to that ceiling any Go
// server of this kind gets on the machine. The report is a Markdown
// document (BENCHMARKS.md).
package bench
