// Package inmem provides in-memory fakes of every port, for tests and for the
// local wiring. Each fake keeps what it was given so a test can look at it
// (Mailer.Sent, EventPublisher.Published, Store.OutboxMessages), can be told
// to fail where a real dependency can, and passes the same contract suite
// (ports/porttest) as the real adapter, so it can be trusted to behave like
// one.
package inmem
