//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse/gatehouse/adapters/console"
)

// devMailPath lists the console mailer's messages.
const devMailPath = "/dev/mail"

// devMail is one message as GET /dev/mail lists it in JSON.
type devMail struct {
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	Links   []string  `json:"links"` // every http(s) URL in Text, in order
	SentAt  time.Time `json:"sent_at"`
}

// devMailRoutes adds dev's own pages to the API's echo instance, so they
// get the whole middleware chain (request ids, access log, security
// headers): GET /dev/mail, and, when the emails' links lead to the API
// itself (APP_BASE_URL left at its dev default), stand-ins for the
// frontend's /verify-email and /reset-password pages, so that the links
// in the mail can be followed in a browser. None of them is in the
// OpenAPI document or in serve.
func devMailRoutes(e *echo.Echo, mailer *console.Mailer, linksToAPI bool) {
	e.GET(devMailPath, devMailHandler(mailer))
	if linksToAPI {
		e.GET("/verify-email", devPageHandler(devVerifyPage))
		e.GET("/reset-password", devPageHandler(devResetPage))
	}
}

// devMailHandler answers GET /dev/mail: the messages the console mailer
// printed (the latest console.Keep), newest first, as a page for people,
// or with Accept: application/json as a JSON array of devMail for scripts.
func devMailHandler(mailer *console.Mailer) echo.HandlerFunc {
	return func(c echo.Context) error {
		msgs := mailer.Messages()
		list := make([]devMail, 0, len(msgs))
		for _, m := range msgs {
			links := devLinks(m.Text)
			if links == nil {
				links = []string{}
			}
			list = append(list, devMail{To: m.To, Subject: m.Subject, Text: m.Text, Links: links, SentAt: m.SentAt.UTC()})
		}
		if wantsJSON(c.Request().Header.Get("Accept")) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // links keep their & as they are
			if err := enc.Encode(list); err != nil {
				return err
			}
			return c.Blob(http.StatusOK, "application/json", buf.Bytes())
		}
		var buf bytes.Buffer
		if err := devMailPage.Execute(&buf, devMailView(list)); err != nil {
			return err
		}
		c.Response().Header().Set("Content-Security-Policy", devPageCSP("", devStyle))
		return c.HTMLBlob(http.StatusOK, buf.Bytes())
	}
}

// wantsJSON reports whether an Accept header asks for JSON rather than a
// page: it names application/json (or a +json type) and not text/html.
func wantsJSON(accept string) bool {
	var js, html bool
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch {
		case mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
			js = true
		case mt == "text/html":
			html = true
		}
	}
	return js && !html
}

// devURL matches an http(s) URL in running text.
var devURL = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `]+`)

// devLinks returns every http(s) URL in text, without the punctuation that
// may end the sentence around it.
func devLinks(text string) []string {
	var links []string
	for _, u := range devURL.FindAllString(text, -1) {
		if u = strings.TrimRight(u, ".,;:!?)]}"); strings.Contains(u, "://") && !strings.HasSuffix(u, "://") {
			links = append(links, u)
		}
	}
	return links
}

// devMailView is what the mail page shows of each message: its text cut
// into plain runs and links.
type devMailItem struct {
	devMail
	Parts []devTextPart
}

type devTextPart struct {
	Text string
	Link bool
}

func devMailView(list []devMail) []devMailItem {
	items := make([]devMailItem, len(list))
	for i, m := range list {
		items[i] = devMailItem{devMail: m}
		rest := m.Text
		for _, l := range m.Links {
			at := strings.Index(rest, l)
			if at < 0 {
				continue
			}
			items[i].Parts = append(items[i].Parts, devTextPart{Text: rest[:at]}, devTextPart{Text: l, Link: true})
			rest = rest[at+len(l):]
		}
		items[i].Parts = append(items[i].Parts, devTextPart{Text: rest})
	}
	return items
}

// devStyle is the style sheet of dev's pages.
const devStyle = `body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.4rem}article{border:1px solid #d2d2d7;border-radius:8px;padding:.5rem 1rem;margin:1rem 0}
h2{font-size:1.05rem;margin:.4rem 0}.meta{color:#6e6e73;font-size:.85rem}pre{white-space:pre-wrap;word-break:break-word;font-size:.9rem}
label{display:block;margin:.8rem 0}input{font:inherit;padding:.3rem;width:20rem;max-width:100%}.note{color:#6e6e73;font-size:.85rem}`

var devMailPage = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail · gatehouse dev</title>
<style>` + devStyle + `</style></head>
<body><h1>Mail printed by gatehouse dev</h1>
<p class="note">Every message the console mailer was given, newest first (the latest 200, kept in memory until dev stops). Nothing was sent. Reload for new mail; scripts can ask for JSON with <code>Accept: application/json</code>.</p>
{{range .}}<article><h2>{{.Subject}}</h2>
<div class="meta">to {{.To}} · {{.SentAt.Format "2006-01-02 15:04:05Z07:00"}}</div>
<pre>{{range .Parts}}{{if .Link}}<a href="{{.Text}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}</pre></article>
{{else}}<p>No mail yet. Sign up, and the verification email appears here.</p>
{{end}}</body></html>
`))

// devPage is a dev stand-in for one of the frontend's pages.
type devPage struct {
	html   string
	script string
}

func devPageHandler(p devPage) echo.HandlerFunc {
	body := []byte(p.html)
	csp := devPageCSP(p.script, devStyle)
	return func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", csp)
		return c.HTMLBlob(http.StatusOK, body)
	}
}

// devPageCSP allows exactly the page's inline script and style, and requests
// to the API (same origin).
func devPageCSP(script, style string) string {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := "default-src 'none'; style-src " + hash(style) + "; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	if script != "" {
		csp += "; script-src " + hash(script) + "; connect-src 'self'"
	}
	return csp
}

func newDevPage(title, body, script string) devPage {
	return devPage{
		html: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>` + title + ` · gatehouse dev</title>
<style>` + devStyle + `</style></head>
<body><h1>` + title + `</h1>
` + body + `
<p class="note">gatehouse dev serves this page in place of your frontend's, because APP_BASE_URL is the API's own address. It sends the token from the link (after #, which browsers never send to a server) to the API.</p>
<script>` + script + `</script></body></html>
`,
		script: script,
	}
}

// devPageScript is the shared part of the pages' scripts: post(path, body)
// sends JSON to the API and shows the outcome in #status.
const devPageScript = `const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const out = document.getElementById("status");
async function post(path, body, done) {
  try {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (r.ok) { out.textContent = done; return true; }
    const p = await r.json().catch(() => ({}));
    out.textContent = "Refused: " + (p.detail || r.statusText) + (p.code ? " (" + p.code + ")" : "");
  } catch (e) {
    out.textContent = "The API could not be reached: " + e;
  }
  return false;
}
if (!token) out.textContent = "This link carries no token: open the link from the email as it is.";
`

var devVerifyPage = newDevPage("Confirm your email address", `<p id="status">Confirming…</p>`,
	devPageScript+`if (token) post("/v1/auth/verify-email", {token}, "Your address is confirmed. You can sign in now.");
`)

var devResetPage = newDevPage("Choose a new password", `<form id="reset"><label>New password (8 to 128 characters)
<input type="password" id="password" autocomplete="new-password" minlength="8" maxlength="128" required></label>
<button type="submit">Set the password</button></form>
<p id="status"></p>`,
	devPageScript+`document.getElementById("reset").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (token) await post("/v1/auth/password-reset/confirm", {token, password: document.getElementById("password").value},
    "Your password is set, and every session has been signed out. Sign in with the new password.");
});
`)
