package httpapitest

import (
	"encoding/json"
	"regexp"

	"github.com/gatehouse/gatehouse/domain"
)

// Mail templates, as outbox topics.
const (
	topicVerifyEmail     = "verify_email"
	topicAccountExists   = "account_exists"
	topicPasswordReset   = "password_reset"
	topicPasswordChanged = "password_changed"
)

// tokenLink finds the token in a link to the frontend: it travels in the
// URL fragment, which browsers never send to a server.
var tokenLink = regexp.MustCompile(`#token=([A-Za-z0-9_-]+)`)

// mail is one outbox mail.
type mail struct {
	topic string
	msg   domain.MailMessage
}

// mails returns the mail in the outbox to addr, oldest first. Every body
// read is a secret that must not be logged.
func (h *harness) mails(addr string) []mail {
	h.t.Helper()
	var out []mail
	for _, m := range h.env.Outbox() {
		if m.Kind != domain.OutboxMail {
			continue
		}
		var msg domain.MailMessage
		if err := json.Unmarshal(m.Payload, &msg); err != nil {
			h.t.Fatalf("outbox message %s (%s): payload is not a mail message: %v", m.ID, m.Topic, err)
		}
		h.secrets.add(msg.Text)
		h.secrets.add(msg.HTML)
		if msg.To == addr {
			out = append(out, mail{topic: m.Topic, msg: msg})
		}
	}
	return out
}

// topics returns the topics of the mail to addr, oldest first.
func (h *harness) topics(addr string) []string {
	h.t.Helper()
	var out []string
	for _, m := range h.mails(addr) {
		out = append(out, m.topic)
	}
	return out
}

// lastMail returns the newest mail to addr, failing unless it has the topic.
func (h *harness) lastMail(addr, topic string) domain.MailMessage {
	h.t.Helper()
	ms := h.mails(addr)
	if len(ms) == 0 {
		h.t.Fatalf("no mail to %s in the outbox, want %s", addr, topic)
	}
	last := ms[len(ms)-1]
	if last.topic != topic {
		h.t.Fatalf("newest mail to %s: got %s, want %s", addr, last.topic, topic)
	}
	return last.msg
}

// mailToken returns the token in the link of the newest mail to addr with
// the topic.
func (h *harness) mailToken(addr, topic string) string {
	h.t.Helper()
	ms := h.mails(addr)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].topic != topic {
			continue
		}
		msg := ms[i].msg
		m := tokenLink.FindStringSubmatch(msg.Text)
		if m == nil {
			h.t.Fatalf("%s mail to %s: no #token= link in the text:\n%s", topic, addr, msg.Text)
		}
		if hm := tokenLink.FindStringSubmatch(msg.HTML); hm == nil || hm[1] != m[1] {
			h.t.Errorf("%s mail to %s: the HTML part does not carry the text part's link", topic, addr)
		}
		h.secrets.add(m[1])
		return m[1]
	}
	h.t.Fatalf("no %s mail to %s in the outbox (got %v)", topic, addr, h.topics(addr))
	return ""
}
