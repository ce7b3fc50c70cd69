package ports

import (
	"context"

	"github.com/gatehouse/gatehouse/domain"
)

// EventPublisher publishes domain events to other systems.
//
// Publish attempts every event and returns one error per event, in the same
// order (nil where that event was accepted), so a caller can retry exactly the
// ones that failed. An error of kind domain.KindInvalid means the event itself
// was refused and retrying cannot succeed; others are worth retrying.
type EventPublisher interface {
	Publish(ctx context.Context, events []domain.Event) []error
}
