// Package domain holds gatehouse's business types and rules: accounts, tokens,
// sessions, uploads and the messages and events they cause. It is pure: it
// imports the standard library only, performs no I/O and reads no clock of its
// own (callers pass the time in), so every rule here is testable as plain
// functions.
package domain
