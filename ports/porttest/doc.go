// Package porttest holds the contract suites of gatehouse's ports. Every
// implementation of a port, the in-memory fake and the real adapter alike,
// runs the same suite, so a fake that passes can be trusted in other tests.
//
// A suite takes a constructor that builds a fresh implementation for one
// subtest together with a view of what reached the other side (for a real
// adapter, a local stand-in of the provider that decodes what it received,
// or a query of the database). Each subtest's name states the rule it
// checks.
package porttest
