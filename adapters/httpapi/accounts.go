package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// The handlers of the accounts operations (registered in routes.go). They
// only translate: HTTP in, one app.Accounts call, HTTP out. The client IP
// they pass for rate limits is ClientIP's, which a client cannot forge.

// User is the signed-in user as the API shows it.
type User struct {
	ID            string    `json:"id" example:"01JDQ7ZK3M4N5P6Q7R8S9T0V1W" doc:"The user's id."`
	Email         string    `json:"email" example:"ada@example.com" doc:"The normalised email address."`
	EmailVerified bool      `json:"email_verified" doc:"Whether the address has been confirmed. Always true for a signed-in user."`
	CreatedAt     time.Time `json:"created_at" doc:"When the account was created (RFC 3339, UTC)."`
}

func userOf(u domain.User) User {
	return User{ID: u.ID, Email: u.Email.String(), EmailVerified: u.Verified(), CreatedAt: u.CreatedAt.UTC()}
}

// Accepted is the body of every 202: the same whatever the outcome, so that
// it reveals nothing about which addresses have accounts.
type Accepted struct {
	Status string `json:"status" enum:"accepted" doc:"Always accepted. If the address can receive mail for this request, a message is on its way."`
}

type acceptedOutput struct {
	Body Accepted
}

func accepted() *acceptedOutput { return &acceptedOutput{Body: Accepted{Status: "accepted"}} }

// Credentials are an email address and a password.
type Credentials struct {
	Email    string `json:"email" example:"ada@example.com" doc:"The email address."`
	Password string `json:"password" example:"correct horse battery staple" doc:"The password: 8 to 128 characters, any characters, used exactly as typed."`
}

// EmailRequest names an email address.
type EmailRequest struct {
	Email string `json:"email" example:"ada@example.com" doc:"The email address."`
}

// TokenRequest carries a one-time token from an email.
type TokenRequest struct {
	Token string `json:"token" example:"q2vX9k1Hc0bQe6tJm3Zr8yLw5nA7uD4fG1sP0oIxKjE" doc:"The token from the link in the email (the part after #token=)."`
}

// ResetConfirmRequest sets a new password with a reset token.
type ResetConfirmRequest struct {
	Token    string `json:"token" example:"q2vX9k1Hc0bQe6tJm3Zr8yLw5nA7uD4fG1sP0oIxKjE" doc:"The token from the link in the reset email (the part after #token=)."`
	Password string `json:"password" doc:"The new password: 8 to 128 characters, any characters, used exactly as typed."`
}

// ChangePasswordRequest replaces the signed-in user's password.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password" doc:"The password the user signs in with now."`
	Password        string `json:"password" doc:"The new password: 8 to 128 characters, any characters, used exactly as typed."`
}

// LoginRequest signs in.
type LoginRequest struct {
	Email    string `json:"email" example:"ada@example.com" doc:"The email address."`
	Password string `json:"password" doc:"The password, exactly as set."`
	Token    bool   `json:"token,omitempty" doc:"true: return a bearer token in the body and set no cookie (for clients that are not browsers). Default false: set the session cookie and keep the token out of the body."`
}

type credentialsInput struct{ Body Credentials }

type emailInput struct{ Body EmailRequest }

type tokenInput struct{ Body TokenRequest }

type resetConfirmInput struct{ Body ResetConfirmRequest }

type changePasswordInput struct{ Body ChangePasswordRequest }

type loginInput struct{ Body LoginRequest }

// SessionInfo describes the session a sign-in started.
type SessionInfo struct {
	ExpiresAt time.Time `json:"expires_at" doc:"When the session ends at the latest, however active (RFC 3339, UTC). It ends earlier after a day without use, or on sign-out."`
}

// Login is the body of a successful sign-in.
type Login struct {
	User    User        `json:"user"`
	Session SessionInfo `json:"session"`
	Token   string      `json:"token,omitempty" doc:"The bearer token, only when the request asked for one. Send it as Authorization: Bearer <token>. It is shown once."`
}

type loginOutput struct {
	SetCookie string `header:"Set-Cookie" doc:"The session cookie, unless the request asked for a bearer token."`
	Body      Login
}

type userOutput struct {
	Body User
}

type signedOutOutput struct {
	SetCookie string `header:"Set-Cookie" doc:"Clears the session cookie when the request was authenticated by it."`
}

func (s *Server) signup(ctx context.Context, in *credentialsInput) (*acceptedOutput, error) {
	if err := s.accounts.Signup(ctx, in.Body.Email, in.Body.Password, ClientIP(ctx)); err != nil {
		return nil, err
	}
	return accepted(), nil
}

// noContent is the answer of operations that answer 204 on success.
func noContent(err error) (*struct{}, error) {
	if err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

func (s *Server) verifyEmail(ctx context.Context, in *tokenInput) (*struct{}, error) {
	return noContent(s.accounts.VerifyEmail(ctx, in.Body.Token, ClientIP(ctx)))
}

func (s *Server) resendVerification(ctx context.Context, in *emailInput) (*acceptedOutput, error) {
	if err := s.accounts.ResendVerification(ctx, in.Body.Email, ClientIP(ctx)); err != nil {
		return nil, err
	}
	return accepted(), nil
}

func (s *Server) login(ctx context.Context, in *loginInput) (*loginOutput, error) {
	sess, err := s.accounts.Login(ctx, in.Body.Email, in.Body.Password, ClientIP(ctx))
	if err != nil {
		return nil, err
	}
	out := &loginOutput{Body: Login{
		User:    userOf(sess.Principal.User),
		Session: SessionInfo{ExpiresAt: sess.Principal.Session.ExpiresAt.UTC()},
	}}
	if in.Body.Token {
		out.Body.Token = sess.Token
	} else {
		out.SetCookie = sessionCookie(sess.Token, sess.Principal.Session)
	}
	return out, nil
}

// signedOut is the answer to a sign-out: the cookie is cleared when it is
// what authenticated the request.
func signedOut(ctx context.Context) *signedOutOutput {
	out := &signedOutOutput{}
	if st := authFrom(ctx); st != nil && st.mode == authCookie {
		out.SetCookie = clearSessionCookie()
	}
	return out
}

func (s *Server) logout(ctx context.Context, _ *struct{}) (*signedOutOutput, error) {
	p, _ := PrincipalFrom(ctx)
	if err := s.accounts.Logout(ctx, p); err != nil {
		return nil, err
	}
	return signedOut(ctx), nil
}

func (s *Server) logoutAll(ctx context.Context, _ *struct{}) (*signedOutOutput, error) {
	p, _ := PrincipalFrom(ctx)
	if err := s.accounts.LogoutAll(ctx, p); err != nil {
		return nil, err
	}
	return signedOut(ctx), nil
}

func (s *Server) me(ctx context.Context, _ *struct{}) (*userOutput, error) {
	p, _ := PrincipalFrom(ctx)
	return &userOutput{Body: userOf(p.User)}, nil
}

func (s *Server) changePassword(ctx context.Context, in *changePasswordInput) (*struct{}, error) {
	p, _ := PrincipalFrom(ctx)
	return noContent(s.accounts.ChangePassword(ctx, p, in.Body.CurrentPassword, in.Body.Password))
}

func (s *Server) requestPasswordReset(ctx context.Context, in *emailInput) (*acceptedOutput, error) {
	if err := s.accounts.RequestPasswordReset(ctx, in.Body.Email, ClientIP(ctx)); err != nil {
		return nil, err
	}
	return accepted(), nil
}

func (s *Server) confirmPasswordReset(ctx context.Context, in *resetConfirmInput) (*struct{}, error) {
	return noContent(s.accounts.ConfirmPasswordReset(ctx, in.Body.Token, in.Body.Password, ClientIP(ctx)))
}
