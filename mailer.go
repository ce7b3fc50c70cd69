package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/adapters/gmail"
	"github.com/gatehouse/gatehouse/adapters/resend"
	"github.com/gatehouse/gatehouse/adapters/ses"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/ports"
)

// newMailer returns the mail provider EMAIL_PROVIDER names, as the backend
// overview defines it: resend when unset, ses, gmail, and smtp as a legacy
// alias of gmail. Anything else is refused, and so is console (the dev
// mailer, which prints messages instead of sending them): a deployment can
// never drop its mail by a typo. Building a provider makes no request.
func newMailer(ctx context.Context, cfg *config.Config) (ports.Mailer, error) {
	switch provider := strings.ToLower(strings.TrimSpace(cfg.Email.Provider)); provider {
	case "", config.ProviderResend:
		m, err := resend.New(cfg.Email)
		if err != nil {
			return nil, err
		}
		return m, nil
	case config.ProviderSES:
		m, err := ses.New(ctx, cfg.AWS.Region, cfg.Email)
		if err != nil {
			return nil, err
		}
		return m, nil
	case config.ProviderGmail, "smtp":
		m, err := gmail.New(cfg.Email)
		if err != nil {
			return nil, err
		}
		return m, nil
	default:
		return nil, fmt.Errorf("EMAIL_PROVIDER %q is not supported: use resend (the default), ses or gmail (smtp is accepted as an alias of gmail)", provider)
	}
}
