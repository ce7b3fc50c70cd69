package ports

import "time"

// Clock tells the time. The core never calls time.Now directly, so tests can
// move time forward.
type Clock interface {
	Now() time.Time
}
