// Package gmail sends gatehouse's mail from a Gmail account over SMTP, with
// go-mail: submission to smtp.gmail.com:587 (or GMAIL_SMTP_ADDR), STARTTLS
// mandatory, then SMTP AUTH PLAIN with the account's app password. The
// account is the sender; FROM_EMAIL is not used.
//
// TLS is never optional, whatever the host: a server that does not offer
// STARTTLS, or whose certificate does not verify for the host name, is
// refused before any credential is sent, and AUTH is refused on a
// connection that is not encrypted (go-mail would allow it towards
// localhost). Certificates verify against the system roots plus, when
// SMTP_CA_FILE is set, the CAs in that file (for a stand-in server).
//
// Each message is multipart/alternative with a text and an HTML part, and
// carries a Message-ID derived from its ID (the outbox row id) and the
// account's domain, plus the same ID in X-Entity-Ref-ID, so every retry of a
// message has the same Message-ID.
//
// Errors are translated at this edge: a permanent (5xx) refusal of the
// recipient or of the message content becomes domain.KindInvalid; anything
// else (4xx, connection, TLS and authentication failures, timeouts) becomes
// domain.KindUnavailable. Errors never contain the app password or a
// message body.
package gmail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// DefaultTimeout bounds one Send, from connecting to QUIT, unless
// WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// Mailer is a ports.Mailer that submits mail to Gmail's SMTP server (or the
// server at GMAIL_SMTP_ADDR). It opens one connection per message and is
// safe for concurrent use.
type Mailer struct {
	host      string
	port      int
	username  string
	password  string
	domain    string // right-hand side of Message-IDs
	tlsConfig *tls.Config
	timeout   time.Duration
}

// Option changes how New builds a Mailer.
type Option func(*options)

type options struct {
	timeout time.Duration
}

// WithTimeout bounds each Send (connection, every SMTP command and the
// message transfer) to d instead of DefaultTimeout. A server that does not
// answer in time yields a domain.KindUnavailable error.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// New returns a Mailer that sends as cfg.GmailUsername, authenticating with
// cfg.GmailAppPassword, to the server at cfg.GmailSMTPAddr (host:port),
// trusting the CAs in cfg.SMTPCAFile in addition to the system roots.
func New(cfg config.Email, opts ...Option) (*Mailer, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, errors.New("gmail: timeout must be positive")
	}
	addr, err := netmail.ParseAddress(cfg.GmailUsername)
	if err != nil || addr.Name != "" {
		return nil, errors.New("gmail: GMAIL_USERNAME must be the account's email address")
	}
	// Google shows app passwords in groups of four; the spaces are not part
	// of the password.
	password := strings.ReplaceAll(cfg.GmailAppPassword.Reveal(), " ", "")
	if password == "" {
		return nil, errors.New("gmail: GMAIL_APP_PASSWORD is empty")
	}
	smtpAddr := cfg.GmailSMTPAddr
	if smtpAddr == "" {
		smtpAddr = "smtp.gmail.com:587"
	}
	host, portStr, err := net.SplitHostPort(smtpAddr)
	port, perr := strconv.Atoi(portStr)
	if err != nil || host == "" || perr != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("gmail: GMAIL_SMTP_ADDR %q is not host:port", smtpAddr)
	}
	roots, err := rootCAs(cfg.SMTPCAFile)
	if err != nil {
		return nil, err
	}
	return &Mailer{
		host:      host,
		port:      port,
		username:  addr.Address,
		password:  password,
		domain:    addr.Address[strings.LastIndexByte(addr.Address, '@')+1:],
		tlsConfig: &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12},
		timeout:   o.timeout,
	}, nil
}

// rootCAs returns nil (the system roots) when file is empty, else the
// system roots plus the certificates in file.
func rootCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("gmail: SMTP_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("gmail: SMTP_CA_FILE %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Send submits msg. See the package documentation for the error kinds.
func (m *Mailer) Send(ctx context.Context, msg domain.MailMessage) error {
	const op = "gmail.Send"
	if err := checkMessage(op, msg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()

	out, err := m.message(msg)
	if err != nil {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: "message cannot be encoded", Err: err}
	}
	client, err := mail.NewClient(m.host,
		mail.WithPort(m.port),
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(m.tlsConfig.Clone()),
		mail.WithSMTPAuthCustom(tlsOnlyAuth{smtp.PlainAuth("", m.username, m.password, m.host, false)}),
		mail.WithTimeout(m.timeout),
		mail.WithDialContextFunc(func(dialCtx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(dialCtx, network, addr)
			if err != nil {
				return nil, err
			}
			// go-mail uses the context for dialling only; closing the
			// connection is how a cancellation or the deadline stops a
			// conversation already under way.
			context.AfterFunc(ctx, func() { _ = conn.Close() })
			return conn, nil
		}),
	)
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err)
	}
	err = client.DialAndSendWithContext(ctx, out)
	if out.IsDelivered() {
		// The server took the message; a failure afterwards (RSET, QUIT)
		// must not cause a second delivery.
		return nil
	}
	if err == nil {
		return domain.Wrap(domain.KindUnavailable, op, errors.New("server did not confirm delivery"))
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return domain.Wrap(kindOf(err), op, err)
}

// message builds the MIME message: text/plain then text/html in a
// multipart/alternative (the last part is the preferred one).
func (m *Mailer) message(msg domain.MailMessage) (*mail.Msg, error) {
	out := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := out.From(m.username); err != nil {
		return nil, err
	}
	if err := out.To(msg.To); err != nil {
		return nil, err
	}
	out.Subject(msg.Subject)
	out.SetMessageIDWithValue(msg.ID + "@" + m.domain)
	out.SetGenHeader("X-Entity-Ref-ID", msg.ID)
	out.SetDate()
	switch {
	case msg.Text != "" && msg.HTML != "":
		out.SetBodyString(mail.TypeTextPlain, msg.Text)
		out.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	case msg.Text != "":
		out.SetBodyString(mail.TypeTextPlain, msg.Text)
	default:
		out.SetBodyString(mail.TypeTextHTML, msg.HTML)
	}
	return out, nil
}

// kindOf maps a go-mail error to an error kind: only a permanent refusal of
// the recipient or of the content is the message's own fault.
func kindOf(err error) domain.Kind {
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() {
		switch se.Reason {
		case mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose:
			if code := se.ErrorCode(); code >= 500 && code < 600 {
				return domain.KindInvalid
			}
		}
	}
	return domain.KindUnavailable
}

// errPlaintextAuth is returned instead of sending credentials over a
// connection that is not encrypted.
var errPlaintextAuth = errors.New("refusing SMTP AUTH over an unencrypted connection")

// tlsOnlyAuth refuses to authenticate unless the connection is encrypted and
// the server's certificate verified, with no exception for localhost.
type tlsOnlyAuth struct{ smtp.Auth }

func (a tlsOnlyAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errPlaintextAuth
	}
	return a.Auth.Start(server)
}

// checkMessage refuses what domain.MailMessage.Validate refuses, as op.
func checkMessage(op string, msg domain.MailMessage) error {
	if err := msg.Validate(); err != nil {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: domain.PublicMessage(err), Err: err}
	}
	return nil
}
