package ports

import "context"

// Probe checks one dependency the service needs to serve traffic, for
// readiness endpoints and start-up checks.
//
// Check returns nil when the dependency is usable, or an error whose message
// is safe to show an operator (it names the problem and what to run, never a
// secret).
type Probe interface {
	Name() string
	Check(ctx context.Context) error
}
