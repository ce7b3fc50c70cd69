package app

import "time"

// Limit is a number of attempts allowed per fixed window.
type Limit struct {
	Attempts int
	Window   time.Duration
}

// RateLimits are the limits on the endpoints an attacker would hammer. Each is
// counted in PostgreSQL (ports.RateLimiter), so they hold across replicas.
// Per-address limits count attempts whether or not the address has an
// account, so a 429 reveals nothing about which addresses exist.
type RateLimits struct {
	LoginPerIP            Limit // password guessing from one client
	LoginPerAccount       Limit // a distributed attack on one account
	SignupPerIP           Limit
	SignupPerAddress      Limit // notices and verification mails to one address
	ResendPerIP           Limit
	ResendPerAddress      Limit
	ResetPerIP            Limit
	ResetPerAddress       Limit
	TokenPerIP            Limit // guessing verification and reset tokens
	PasswordChangePerUser Limit // guessing the current password with a stolen session
}

// DefaultRateLimits are generous for people and tight for scripts: a person
// does not sign in ten times in fifteen minutes or ask for a fourth reset
// mail within the hour.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		LoginPerIP:            Limit{30, 15 * time.Minute},
		LoginPerAccount:       Limit{10, 15 * time.Minute},
		SignupPerIP:           Limit{10, time.Hour},
		SignupPerAddress:      Limit{3, time.Hour},
		ResendPerIP:           Limit{10, time.Hour},
		ResendPerAddress:      Limit{3, time.Hour},
		ResetPerIP:            Limit{10, time.Hour},
		ResetPerAddress:       Limit{3, time.Hour},
		TokenPerIP:            Limit{30, 15 * time.Minute},
		PasswordChangePerUser: Limit{10, 15 * time.Minute},
	}
}
