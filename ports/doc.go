// Package ports declares what gatehouse's core needs from the outside world:
// storage, mail, object scanning, events, an object store and a clock. The
// interfaces are sized to a role, use only domain types and the standard
// library, and say in their doc comments which domain error kinds their
// methods return. Adapters implement them; porttest holds the contract
// suites every implementation, fake or real, must pass.
package ports
