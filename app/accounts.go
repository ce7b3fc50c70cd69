package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// Codes of the accounts use cases that clients branch on.
const (
	CodeInvalidCredentials = "invalid_credentials"
	CodeEmailNotVerified   = "email_not_verified"
	CodeRateLimited        = "rate_limited"
	CodeEmailTaken         = "email_taken"
)

// Event types the accounts use cases emit (see docs/events.md).
const (
	EventUserRegistered    = "user.registered"
	EventUserEmailVerified = "user.email_verified"
)

// AccountStores are the storage ports the accounts use cases need.
type AccountStores struct {
	Tx       ports.Tx
	Users    ports.UserStore
	Tokens   ports.TokenStore
	Sessions ports.SessionStore
	Limiter  ports.RateLimiter
	Outbox   ports.Outbox
}

// AccountsConfig holds the accounts use cases' settings.
type AccountsConfig struct {
	// AppBaseURL is the frontend's address. Links in emails open pages there
	// (/verify-email, /reset-password) with the token in the URL fragment,
	// which browsers never send to a server; the page POSTs it to the API, so
	// a mail scanner that follows links cannot spend a token.
	AppBaseURL string
	Sessions   domain.SessionPolicy
	Limits     RateLimits
}

// Accounts is the sign-up, verification, sign-in and password story.
type Accounts struct {
	stores AccountStores
	hasher ports.PasswordHasher
	clock  ports.Clock
	random io.Reader
	cfg    AccountsConfig
	log    *slog.Logger
}

// NewAccounts returns the accounts use cases. The random source is
// crypto/rand; tokens and ids come from it.
func NewAccounts(stores AccountStores, hasher ports.PasswordHasher, clock ports.Clock, cfg AccountsConfig, log *slog.Logger) (*Accounts, error) {
	if err := cfg.Sessions.Validate(); err != nil {
		return nil, err
	}
	if _, err := url.Parse(cfg.AppBaseURL); err != nil || cfg.AppBaseURL == "" {
		return nil, domain.Wrap(domain.KindInternal, "app.NewAccounts", err)
	}
	return &Accounts{stores: stores, hasher: hasher, clock: clock, random: rand.Reader, cfg: cfg, log: log}, nil
}

// Principal is the signed-in user of a request and the session that proved it.
type Principal struct {
	User    domain.User
	Session domain.Session
}

// Signup starts an account for email. It answers the same whether or not the
// address already has an account: a new address gets an unverified account
// and a verification email; a taken one gets a notice to its owner and
// nothing else. Invalid input is a KindInvalid error; too many attempts from
// clientIP a KindRateLimited one.
func (a *Accounts) Signup(ctx context.Context, email, password, clientIP string) error {
	now := a.clock.Now()
	if err := a.limit(ctx, now, "signup:ip:"+clientIP, a.cfg.Limits.SignupPerIP); err != nil {
		return err
	}
	addr, err := domain.ParseEmail(email)
	if err != nil {
		return err
	}
	if err := domain.CheckPassword(password, addr); err != nil {
		return err
	}
	// Hash before looking the address up, so both paths cost the same.
	hash, err := a.hasher.Hash(password)
	if err != nil {
		return err
	}
	// Counted per address whether or not it exists, so a 429 reveals nothing.
	if err := a.limit(ctx, now, "signup:email:"+addr.String(), a.cfg.Limits.SignupPerAddress); err != nil {
		return err
	}
	err = a.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if _, err := a.stores.Users.UserByEmail(ctx, addr); err == nil {
			return a.notifyExisting(ctx, addr, now)
		} else if !domain.IsKind(err, domain.KindNotFound) {
			return err
		}
		return a.register(ctx, addr, hash, now)
	})
	if domain.IsKind(err, domain.KindConflict) {
		// Another request registered the address between our lookup and
		// insert: its owner gets the notice, as if we had seen it first.
		err = a.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
			return a.notifyExisting(ctx, addr, now)
		})
	}
	return err
}

func (a *Accounts) register(ctx context.Context, addr domain.Email, hash string, now time.Time) error {
	id, err := domain.NewID(now, a.random)
	if err != nil {
		return err
	}
	user := domain.NewUser(id, addr, hash, now)
	if err := a.stores.Users.CreateUser(ctx, user); err != nil {
		return err
	}
	mail, err := a.issueToken(ctx, user, domain.PurposeVerifyEmail, TemplateVerifyEmail, "/verify-email", now)
	if err != nil {
		return err
	}
	ev, err := a.event(EventUserRegistered, map[string]any{"user_id": user.ID}, now)
	if err != nil {
		return err
	}
	return a.stores.Outbox.Enqueue(ctx, mail, ev)
}

func (a *Accounts) notifyExisting(ctx context.Context, addr domain.Email, now time.Time) error {
	id, err := domain.NewID(now, a.random)
	if err != nil {
		return err
	}
	msg, err := renderMail(TemplateAccountExists, id, addr, mailData{Link: a.cfg.AppBaseURL + "/forgot-password"}, now)
	if err != nil {
		return err
	}
	return a.stores.Outbox.Enqueue(ctx, msg)
}

// issueToken voids the user's older tokens for purpose, stores a new one and
// renders the mail that carries it. The raw token lives only in that mail.
func (a *Accounts) issueToken(ctx context.Context, user domain.User, purpose domain.TokenPurpose, template, page string, now time.Time) (domain.OutboxMessage, error) {
	if err := a.stores.Tokens.RevokeTokens(ctx, user.ID, purpose, now); err != nil {
		return domain.OutboxMessage{}, err
	}
	tokenID, err := domain.NewID(now, a.random)
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	raw, token, err := domain.IssueOneTimeToken(a.random, tokenID, user.ID, purpose, now)
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	if err := a.stores.Tokens.CreateToken(ctx, token); err != nil {
		return domain.OutboxMessage{}, err
	}
	mailID, err := domain.NewID(now, a.random)
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	return renderMail(template, mailID, user.Email, mailData{Link: a.cfg.AppBaseURL + page + "#token=" + raw}, now)
}

func (a *Accounts) event(typ string, detail map[string]any, now time.Time) (domain.OutboxMessage, error) {
	id, err := domain.NewID(now, a.random)
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	body, err := json.Marshal(detail)
	if err != nil {
		return domain.OutboxMessage{}, domain.Wrap(domain.KindInternal, "app.event", err)
	}
	return domain.NewEventOutbox(domain.Event{ID: id, Type: typ, Version: 1, OccurredAt: now.UTC(), Detail: body})
}

// VerifyEmail spends a verification token and marks its user verified. A
// token that is unknown, used, expired or for another purpose is a
// KindInvalid error with code invalid_token.
func (a *Accounts) VerifyEmail(ctx context.Context, token, clientIP string) error {
	now := a.clock.Now()
	if err := a.limit(ctx, now, "token:ip:"+clientIP, a.cfg.Limits.TokenPerIP); err != nil {
		return err
	}
	hash, err := domain.ParseSecretToken(token)
	if err != nil {
		return err
	}
	return a.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		t, err := a.stores.Tokens.ConsumeToken(ctx, hash, domain.PurposeVerifyEmail, now)
		if err != nil {
			return err
		}
		return a.markVerified(ctx, t.UserID, now)
	})
}

// markVerified verifies the user and emits user.email_verified the first
// time only.
func (a *Accounts) markVerified(ctx context.Context, userID string, now time.Time) error {
	var changed bool
	if err := a.stores.Users.UpdateUser(ctx, userID, func(u *domain.User) error {
		changed = u.MarkVerified(now)
		return nil
	}); err != nil {
		return err
	}
	if !changed {
		return nil
	}
	ev, err := a.event(EventUserEmailVerified, map[string]any{"user_id": userID}, now)
	if err != nil {
		return err
	}
	return a.stores.Outbox.Enqueue(ctx, ev)
}

// ResendVerification sends a new verification email if email belongs to an
// unverified account, voiding the previous link. It answers the same for
// every address.
func (a *Accounts) ResendVerification(ctx context.Context, email, clientIP string) error {
	return a.mailToken(ctx, email, clientIP, tokenMail{
		key: "resend", perIP: a.cfg.Limits.ResendPerIP, perAddress: a.cfg.Limits.ResendPerAddress,
		skip:    domain.User.Verified,
		purpose: domain.PurposeVerifyEmail, template: TemplateVerifyEmail, page: "/verify-email",
	})
}

// tokenMail describes a "send me a link" request: its rate limits, which
// accounts get no mail, and the token and mail to issue.
type tokenMail struct {
	key               string
	perIP, perAddress Limit
	skip              func(domain.User) bool
	purpose           domain.TokenPurpose
	template, page    string
}

// mailToken answers a "send me a link" request the same way for every
// address: limits per client and per address (counted whether or not the
// address has an account), then, only for an account that wants one, a new
// token that voids the older ones and the mail carrying it.
func (a *Accounts) mailToken(ctx context.Context, email, clientIP string, m tokenMail) error {
	now := a.clock.Now()
	if err := a.limit(ctx, now, m.key+":ip:"+clientIP, m.perIP); err != nil {
		return err
	}
	addr, err := domain.ParseEmail(email)
	if err != nil {
		return err
	}
	if err := a.limit(ctx, now, m.key+":email:"+addr.String(), m.perAddress); err != nil {
		return err
	}
	return a.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		user, err := a.stores.Users.UserByEmail(ctx, addr)
		if domain.IsKind(err, domain.KindNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if m.skip != nil && m.skip(user) {
			return nil
		}
		mail, err := a.issueToken(ctx, user, m.purpose, m.template, m.page, now)
		if err != nil {
			return err
		}
		return a.stores.Outbox.Enqueue(ctx, mail)
	})
}

// Session is a new session and the raw token the client must present.
type Session struct {
	Token     string
	Principal Principal
}

// Login checks the password and starts a new session with a new token. An
// unknown address and a wrong password are the same KindUnauthenticated
// error (invalid_credentials), and cost the same; a correct password for an
// unverified address is KindForbidden email_not_verified.
func (a *Accounts) Login(ctx context.Context, email, password, clientIP string) (Session, error) {
	now := a.clock.Now()
	if err := a.limit(ctx, now, "login:ip:"+clientIP, a.cfg.Limits.LoginPerIP); err != nil {
		return Session{}, err
	}
	invalid := domain.E(domain.KindUnauthenticated, CodeInvalidCredentials, "The email address or password is incorrect.")
	addr, err := domain.ParseEmail(email)
	if err != nil {
		a.hasher.DummyVerify(password)
		return Session{}, invalid
	}
	if err := a.limit(ctx, now, "login:email:"+addr.String(), a.cfg.Limits.LoginPerAccount); err != nil {
		return Session{}, err
	}
	user, err := a.stores.Users.UserByEmail(ctx, addr)
	if domain.IsKind(err, domain.KindNotFound) {
		a.hasher.DummyVerify(password)
		return Session{}, invalid
	} else if err != nil {
		return Session{}, err
	}
	ok, rehash, err := a.hasher.Verify(password, user.PasswordHash)
	if err != nil {
		return Session{}, err
	}
	if !ok {
		return Session{}, invalid
	}
	if !user.Verified() {
		return Session{}, domain.E(domain.KindForbidden, CodeEmailNotVerified, "Confirm your email address first: follow the link in the email we sent you.")
	}
	if rehash {
		if err := a.upgradeHash(ctx, user.ID, password, now); err != nil {
			// The sign-in is still good; the upgrade is retried next time.
			a.log.WarnContext(ctx, "password hash upgrade failed", "user_id", user.ID, "error", err)
		}
	}
	return a.startSession(ctx, user, now)
}

func (a *Accounts) upgradeHash(ctx context.Context, userID, password string, now time.Time) error {
	hash, err := a.hasher.Hash(password)
	if err != nil {
		return err
	}
	return a.stores.Users.UpdateUser(ctx, userID, func(u *domain.User) error {
		u.SetPasswordHash(hash, now)
		return nil
	})
}

func (a *Accounts) startSession(ctx context.Context, user domain.User, now time.Time) (Session, error) {
	id, err := domain.NewID(now, a.random)
	if err != nil {
		return Session{}, err
	}
	raw, s, err := domain.NewSession(a.random, id, user.ID, now, a.cfg.Sessions)
	if err != nil {
		return Session{}, err
	}
	if err := a.stores.Sessions.CreateSession(ctx, s); err != nil {
		return Session{}, err
	}
	return Session{Token: raw, Principal: Principal{User: user, Session: s}}, nil
}

// Authenticate resolves a presented session token. Most calls only read: the
// session's last use is written at most once per touch interval. A
// malformed, unknown, revoked or expired token is a KindUnauthenticated
// error.
func (a *Accounts) Authenticate(ctx context.Context, token string) (Principal, error) {
	hash, err := domain.ParseSessionToken(token)
	if err != nil {
		return Principal{}, err
	}
	s, user, err := a.stores.Sessions.SessionByTokenHash(ctx, hash)
	if err != nil {
		return Principal{}, err
	}
	return a.admit(ctx, s, user)
}

// admit is the rest of Authenticate once the session and its user are
// read: it checks the session's lifetimes and records its use when due.
func (a *Accounts) admit(ctx context.Context, s domain.Session, user domain.User) (Principal, error) {
	now := a.clock.Now()
	if err := s.Check(now, a.cfg.Sessions); err != nil {
		return Principal{}, err
	}
	if s.NeedsTouch(now, a.cfg.Sessions) {
		if err := a.stores.Sessions.TouchSession(ctx, s.ID, now); err != nil {
			return Principal{}, err
		}
		s.Touch(now)
	}
	return Principal{User: user, Session: s}, nil
}

// Logout ends the principal's session.
func (a *Accounts) Logout(ctx context.Context, p Principal) error {
	return a.stores.Sessions.DeleteSession(ctx, p.Session.ID)
}

// LogoutAll ends every session of the principal's user, this one included.
func (a *Accounts) LogoutAll(ctx context.Context, p Principal) error {
	_, err := a.stores.Sessions.DeleteUserSessions(ctx, p.User.ID, "")
	return err
}

// ChangePassword replaces the password after checking the current one, ends
// every other session and notifies the owner. A wrong current password is a
// KindInvalid error with code current_password_incorrect and changes nothing.
func (a *Accounts) ChangePassword(ctx context.Context, p Principal, current, password string) error {
	now := a.clock.Now()
	if err := a.limit(ctx, now, "password_change:user:"+p.User.ID, a.cfg.Limits.PasswordChangePerUser); err != nil {
		return err
	}
	user, err := a.stores.Users.UserByID(ctx, p.User.ID)
	if err != nil {
		return err
	}
	ok, _, err := a.hasher.Verify(current, user.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return &domain.Error{Kind: domain.KindInvalid, Code: "current_password_incorrect", Msg: "The current password is incorrect.",
			Fields: []domain.FieldError{{Location: "body.current_password", Message: "is incorrect"}}}
	}
	if err := domain.CheckPassword(password, user.Email); err != nil {
		return err
	}
	hash, err := a.hasher.Hash(password)
	if err != nil {
		return err
	}
	return a.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		return a.replacePassword(ctx, user.ID, hash, p.Session.ID, now)
	})
}

// replacePassword stores the new hash, ends the user's sessions except keep
// ("" ends all) and queues the password-changed notice.
func (a *Accounts) replacePassword(ctx context.Context, userID, hash, keep string, now time.Time) error {
	var user domain.User
	if err := a.stores.Users.UpdateUser(ctx, userID, func(u *domain.User) error {
		u.SetPasswordHash(hash, now)
		user = *u
		return nil
	}); err != nil {
		return err
	}
	if _, err := a.stores.Sessions.DeleteUserSessions(ctx, userID, keep); err != nil {
		return err
	}
	id, err := domain.NewID(now, a.random)
	if err != nil {
		return err
	}
	msg, err := renderMail(TemplatePasswordChanged, id, user.Email, mailData{Link: a.cfg.AppBaseURL + "/forgot-password"}, now)
	if err != nil {
		return err
	}
	return a.stores.Outbox.Enqueue(ctx, msg)
}

// RequestPasswordReset emails a reset link if email has an account, voiding
// earlier links. It answers the same for every address and changes nothing
// else: the old password keeps working until a token is used.
func (a *Accounts) RequestPasswordReset(ctx context.Context, email, clientIP string) error {
	return a.mailToken(ctx, email, clientIP, tokenMail{
		key: "reset", perIP: a.cfg.Limits.ResetPerIP, perAddress: a.cfg.Limits.ResetPerAddress,
		purpose: domain.PurposePasswordReset, template: TemplatePasswordReset, page: "/reset-password",
	})
}

// ConfirmPasswordReset spends a reset token and sets the new password. Every
// session of the user ends (the caller is not signed in), and since the token
// proved control of the address, an unverified address becomes verified. A
// bad token is KindInvalid invalid_token; a password that breaks the policy
// leaves the token unspent.
func (a *Accounts) ConfirmPasswordReset(ctx context.Context, token, password, clientIP string) error {
	now := a.clock.Now()
	if err := a.limit(ctx, now, "token:ip:"+clientIP, a.cfg.Limits.TokenPerIP); err != nil {
		return err
	}
	hash, err := domain.ParseSecretToken(token)
	if err != nil {
		return err
	}
	// The length rules do not depend on the user; check them before the
	// expensive hash. The not-the-email rule is checked below, in the
	// transaction, and a failure there rolls the token back.
	if err := domain.CheckPassword(password, domain.Email{}); err != nil {
		return err
	}
	pwHash, err := a.hasher.Hash(password)
	if err != nil {
		return err
	}
	return a.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		t, err := a.stores.Tokens.ConsumeToken(ctx, hash, domain.PurposePasswordReset, now)
		if err != nil {
			return err
		}
		user, err := a.stores.Users.UserByID(ctx, t.UserID)
		if err != nil {
			return err
		}
		if err := domain.CheckPassword(password, user.Email); err != nil {
			return err
		}
		if err := a.replacePassword(ctx, user.ID, pwHash, "", now); err != nil {
			return err
		}
		return a.markVerified(ctx, user.ID, now)
	})
}

// limit counts one attempt under key and turns a refusal into a
// KindRateLimited error that says when to come back.
func (a *Accounts) limit(ctx context.Context, now time.Time, key string, l Limit) error {
	ok, retryAfter, err := a.stores.Limiter.Allow(ctx, key, l.Attempts, l.Window, now)
	if err != nil {
		return err
	}
	if !ok {
		return &domain.Error{Kind: domain.KindRateLimited, Code: CodeRateLimited, Msg: "Too many attempts. Try again later.", RetryAfter: retryAfter}
	}
	return nil
}
