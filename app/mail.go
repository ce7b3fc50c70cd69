package app

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// The mail templates, each with a text and an HTML part.
const (
	TemplateVerifyEmail     = "verify_email"
	TemplateAccountExists   = "account_exists"
	TemplatePasswordReset   = "password_reset"
	TemplatePasswordChanged = "password_changed"
)

var subjects = map[string]string{
	TemplateVerifyEmail:     "Confirm your email address",
	TemplateAccountExists:   "Someone tried to sign up with your address",
	TemplatePasswordReset:   "Reset your password",
	TemplatePasswordChanged: "Your password was changed",
}

//go:embed mailtmpl/*.txt mailtmpl/*.html
var mailFS embed.FS

var (
	textTemplates = texttemplate.Must(texttemplate.New("").Option("missingkey=error").ParseFS(mailFS, "mailtmpl/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.New("").Option("missingkey=error").ParseFS(mailFS, "mailtmpl/*.html"))
)

// mailData is what every template may use.
type mailData struct {
	Link string
}

// renderMail renders one template into an outbox message whose id is id. The
// HTML part is escaped by html/template; the link is built by the caller
// from the configured base URL, never from request headers.
func renderMail(template, id string, to domain.Email, data mailData, now time.Time) (domain.OutboxMessage, error) {
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, template+".txt", data); err != nil {
		return domain.OutboxMessage{}, domain.Wrap(domain.KindInternal, "app.renderMail", err)
	}
	if err := htmlTemplates.ExecuteTemplate(&html, template+".html", data); err != nil {
		return domain.OutboxMessage{}, domain.Wrap(domain.KindInternal, "app.renderMail", err)
	}
	return domain.NewMailOutbox(template, domain.MailMessage{
		ID:      id,
		To:      to.String(),
		Subject: subjects[template],
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    html.String(),
	}, now)
}
