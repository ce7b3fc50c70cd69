package httpapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sessionCookieName is the cookie of cookie-mode sessions (DESIGN §5: a
// __Host- prefixed cookie).
const sessionCookieName = "__Host-session"

// harness is one case's view of its server: an HTTP client and the secrets
// the case has handled, which must never appear in the server's logs.
type harness struct {
	t       *testing.T
	env     Env
	client  *http.Client
	secrets *secretSet
}

// start makes a case's harness. The log check is registered before newEnv
// runs, so it runs after the server is closed and every request's log line
// is written.
func start(t *testing.T, newEnv func(t *testing.T) Env) *harness {
	t.Helper()
	h := &harness{t: t, client: &http.Client{}, secrets: &secretSet{}}
	t.Cleanup(func() {
		if h.env.Logs == nil {
			return
		}
		for _, leak := range h.secrets.leaks(h.env.Logs()) {
			t.Errorf("the server logged a secret: %s", leak)
		}
	})
	h.env = newEnv(t)
	if h.env.BaseURL == "" || h.env.Outbox == nil || h.env.Clock == nil || h.env.AllowedOrigin == "" {
		t.Fatalf("newEnv returned an incomplete Env: BaseURL, Outbox, Clock and AllowedOrigin are required")
	}
	h.env.BaseURL = strings.TrimSuffix(h.env.BaseURL, "/")
	return h
}

// response is a complete HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// reqOption changes a request before it is sent.
type reqOption func(*http.Request)

func withHeader(name, value string) reqOption {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func withCookie(value string) reqOption {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookieName, Value: value}) }
}

func withBearer(token string) reqOption {
	return withHeader("Authorization", "Bearer "+token)
}

// do sends a request with a raw body (nil for none) and reads the answer.
func (h *harness) do(method, path string, body []byte, opts ...reqOption) response {
	h.t.Helper()
	res, err := h.send(method, path, body, opts...)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// send is do for any goroutine: it returns errors instead of failing.
func (h *harness) send(method, path string, body []byte, opts ...reqOption) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.env.BaseURL+path, rd)
	if err != nil {
		return response{}, err
	}
	for _, o := range opts {
		o(req)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("reading the body: %w", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// tryPost is post for any goroutine.
func (h *harness) tryPost(path string, body any) (response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return response{}, err
	}
	return h.send(http.MethodPost, path, b, withHeader("Content-Type", "application/json"))
}

// problemCode returns the code of a problem answer, or "".
func problemCode(res response) string {
	var p problem
	if json.Unmarshal(res.body, &p) != nil {
		return ""
	}
	return p.Code
}

// post sends body as JSON; a nil body sends none.
func (h *harness) post(path string, body any, opts ...reqOption) response {
	h.t.Helper()
	if body == nil {
		return h.do(http.MethodPost, path, nil, opts...)
	}
	b, err := json.Marshal(body)
	if err != nil {
		h.t.Fatalf("encoding the body of POST %s: %v", path, err)
	}
	opts = append([]reqOption{withHeader("Content-Type", "application/json")}, opts...)
	return h.do(http.MethodPost, path, b, opts...)
}

func (h *harness) get(path string, opts ...reqOption) response {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil, opts...)
}

// wantStatus fails the test unless the answer has the status.
func (h *harness) wantStatus(what string, res response, status int) {
	h.t.Helper()
	if res.status != status {
		h.t.Fatalf("%s: got status %d, want %d; body: %s", what, res.status, status, res.body)
	}
}

// decode decodes a JSON body, failing on unknown members only when v is a
// struct type that lists them all.
func (h *harness) decode(what string, res response, v any) {
	h.t.Helper()
	if mt, _, _ := mime.ParseMediaType(res.header.Get("Content-Type")); mt != "application/json" {
		h.t.Errorf("%s: got Content-Type %q, want application/json", what, res.header.Get("Content-Type"))
	}
	if err := json.Unmarshal(res.body, v); err != nil {
		h.t.Fatalf("%s: decoding %s: %v", what, res.body, err)
	}
}

// problem is an RFC 9457 answer as the API sends it.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// wantProblem fails the test unless the answer is a problem with the status
// and code, and returns it.
func (h *harness) wantProblem(what string, res response, status int, code string) problem {
	h.t.Helper()
	if res.status != status {
		h.t.Fatalf("%s: got status %d, want %d (%s); body: %s", what, res.status, status, code, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		h.t.Errorf("%s: got Content-Type %q, want application/problem+json", what, ct)
	}
	var p problem
	if err := json.Unmarshal(res.body, &p); err != nil {
		h.t.Fatalf("%s: decoding the problem %s: %v", what, res.body, err)
	}
	if p.Code != code {
		h.t.Errorf("%s: got code %q, want %q; body: %s", what, p.Code, code, res.body)
	}
	if p.Status != status {
		h.t.Errorf("%s: got status member %d, want %d", what, p.Status, status)
	}
	if p.RequestID == "" || p.RequestID != res.header.Get("X-Request-ID") {
		h.t.Errorf("%s: got request_id %q, want the X-Request-ID header %q", what, p.RequestID, res.header.Get("X-Request-ID"))
	}
	return p
}

// wantAccepted fails the test unless the answer is the one 202 body every
// enumeration-safe operation gives.
func (h *harness) wantAccepted(what string, res response) {
	h.t.Helper()
	h.wantStatus(what, res, http.StatusAccepted)
	var got map[string]any
	h.decode(what, res, &got)
	if diff := cmp.Diff(map[string]any{"status": "accepted"}, got); diff != "" {
		h.t.Errorf("%s: body (-want +got):\n%s", what, diff)
	}
}

// withoutRequestID returns a JSON body as a map without its request_id, for
// comparing two answers that must be identical.
func (h *harness) withoutRequestID(res response) map[string]any {
	h.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(res.body, &m); err != nil {
		h.t.Fatalf("decoding %s: %v", res.body, err)
	}
	delete(m, "request_id")
	return m
}

// setCookies returns the answer's Set-Cookie headers for the session cookie.
func (h *harness) setCookies(res response) []*http.Cookie {
	h.t.Helper()
	var out []*http.Cookie
	for _, line := range res.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			h.t.Fatalf("unparsable Set-Cookie %q: %v", line, err)
		}
		if c.Name == sessionCookieName {
			out = append(out, c)
		}
	}
	return out
}

// wantCookieCleared fails the test unless the answer tells the browser to
// drop the session cookie.
func (h *harness) wantCookieCleared(what string, res response) {
	h.t.Helper()
	cs := h.setCookies(res)
	if len(cs) != 1 {
		h.t.Fatalf("%s: got %d session Set-Cookie headers, want 1 that clears it (%q)", what, len(cs), res.header.Values("Set-Cookie"))
	}
	c := cs[0]
	if c.MaxAge >= 0 || c.Value != "" {
		h.t.Errorf("%s: got Set-Cookie %q, want an empty value with Max-Age=0", what, c.Raw)
	}
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		h.t.Errorf("%s: got Set-Cookie %q, want Secure, HttpOnly, Path=/ and no Domain (the __Host- rules)", what, c.Raw)
	}
}

// wantNoCookie fails the test if the answer sets or clears the session
// cookie.
func (h *harness) wantNoCookie(what string, res response) {
	h.t.Helper()
	if cs := h.setCookies(res); len(cs) != 0 {
		h.t.Errorf("%s: got Set-Cookie %q, want none", what, res.header.Values("Set-Cookie"))
	}
}

// user is the API's User.
type user struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

// loginBody is the API's answer to a sign-in.
type loginBody struct {
	User    user `json:"user"`
	Session struct {
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"session"`
	Token string `json:"token"`
}

// session is a signed-in client: a browser holding the cookie, or a
// program holding a bearer token.
type session struct {
	cookie    string
	bearer    string
	expiresAt time.Time
	user      user
}

// auth returns the option that presents the session.
func (s session) auth() reqOption {
	if s.bearer != "" {
		return withBearer(s.bearer)
	}
	return withCookie(s.cookie)
}

// credentials is a sign-up or sign-in body.
type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signup signs up and returns the raw answer.
func (h *harness) signup(email, password string, opts ...reqOption) response {
	h.t.Helper()
	h.secrets.add(password)
	return h.post("/v1/auth/signup", credentials{email, password}, opts...)
}

// login signs in and returns the raw answer.
func (h *harness) login(email, password string, bearer bool, opts ...reqOption) response {
	h.t.Helper()
	h.secrets.add(password)
	body := map[string]any{"email": email, "password": password}
	if bearer {
		body["token"] = true
	}
	res := h.post("/v1/auth/login", body, opts...)
	for _, c := range h.setCookies(res) {
		h.secrets.add(c.Value)
	}
	var b struct {
		Token string `json:"token"`
	}
	if res.status == http.StatusOK && json.Unmarshal(res.body, &b) == nil {
		h.secrets.add(b.Token)
	}
	return res
}

// newUser signs up, confirms the address and returns it.
func (h *harness) newUser(email, password string) {
	h.t.Helper()
	h.wantAccepted("signup "+email, h.signup(email, password))
	token := h.mailToken(email, topicVerifyEmail)
	h.wantStatus("verify-email "+email, h.verify(token), http.StatusNoContent)
}

// startSession signs in (cookie mode unless bearer) and returns the session.
func (h *harness) startSession(email, password string, bearer bool) session {
	h.t.Helper()
	res := h.login(email, password, bearer)
	h.wantStatus("login "+email, res, http.StatusOK)
	var b loginBody
	h.decode("login "+email, res, &b)
	s := session{expiresAt: b.Session.ExpiresAt, user: b.User}
	if bearer {
		s.bearer = b.Token
		if s.bearer == "" {
			h.t.Fatalf("login %s with token: true: the body has no token: %s", email, res.body)
		}
		return s
	}
	cs := h.setCookies(res)
	if len(cs) != 1 || cs[0].Value == "" {
		h.t.Fatalf("login %s: got session Set-Cookie %q, want one with a value", email, res.header.Values("Set-Cookie"))
	}
	s.cookie = cs[0].Value
	return s
}

func (h *harness) verify(token string, opts ...reqOption) response {
	h.t.Helper()
	return h.post("/v1/auth/verify-email", map[string]string{"token": token}, opts...)
}

func (h *harness) confirmReset(token, password string, opts ...reqOption) response {
	h.t.Helper()
	h.secrets.add(password)
	return h.post("/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": password}, opts...)
}

func (h *harness) me(s session, opts ...reqOption) response {
	h.t.Helper()
	return h.get("/v1/me", append([]reqOption{s.auth()}, opts...)...)
}

// wantAlive fails the test unless the session is usable.
func (h *harness) wantAlive(what string, s session) {
	h.t.Helper()
	h.wantStatus(what, h.me(s), http.StatusOK)
}

// wantEnded fails the test unless the session is refused as unknown.
func (h *harness) wantEnded(what string, s session) {
	h.t.Helper()
	h.wantProblem(what, h.me(s), http.StatusUnauthorized, "invalid_session")
}
