// Package app holds gatehouse's use cases: the services the HTTP adapter and
// the Lambda handler call. Each one orchestrates domain rules and ports; it
// contains no SQL, no HTTP and no SDK, so it runs unchanged against the
// in-memory adapters in contract tests and against PostgreSQL, S3 and the mail
// providers in production.
package app
