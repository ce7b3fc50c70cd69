package ports

import (
	"context"

	"github.com/gatehouse/gatehouse/domain"
)

// Mailer sends one email through a provider.
//
// Send returns nil once the provider has accepted the message. A returned
// error of kind domain.KindInvalid means the provider rejected the message
// itself and retrying it cannot succeed; any other error (typically
// domain.KindUnavailable) is worth retrying later with the same msg.ID, which
// providers that support it use as an idempotency key.
type Mailer interface {
	Send(ctx context.Context, msg domain.MailMessage) error
}
