package gmail_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse/gatehouse/domain"
)

// testPKI is a throw-away CA and a server certificate it signed for
// 127.0.0.1 and localhost.
type testPKI struct {
	caFile string // PEM of the CA, for SMTP_CA_FILE
	server tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{
		caFile: caFile,
		server: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
	}
}

// authAttempt is one AUTH the server saw.
type authAttempt struct {
	Mechanism string
	OverTLS   bool
	Username  string
	Password  string
}

// envelope is one message the server accepted, with its SMTP envelope.
type envelope struct {
	From    string
	To      []string
	OverTLS bool
	Authed  bool
	Raw     string
}

// smtpStandIn is a local SMTP submission server (go-smtp) standing in for
// Gmail: STARTTLS when it has a certificate, AUTH PLAIN only once TLS is up
// (unless insecure is set, to tempt a careless client), and it records
// what happened.
type smtpStandIn struct {
	addr     string
	username string
	password string

	// rcptErr and dataErr, when set, refuse RCPT TO or the message.
	rcptErr error
	dataErr error

	mu       sync.Mutex
	starts   int // connections that reached EHLO in clear text
	auths    []authAttempt
	accepted []envelope
}

type standInOptions struct {
	cert     *tls.Certificate // nil: no STARTTLS
	insecure bool             // advertise AUTH without TLS
}

func newSMTPStandIn(t *testing.T, username, password string, o standInOptions) *smtpStandIn {
	t.Helper()
	s := &smtpStandIn{username: username, password: password}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		if !isTLS {
			s.mu.Lock()
			s.starts++
			s.mu.Unlock()
		}
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = o.insecure
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if o.cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpStandIn) Auths() []authAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]authAttempt(nil), s.auths...)
}

func (s *smtpStandIn) Accepted() []envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]envelope(nil), s.accepted...)
}

// Delivered decodes every accepted message back into a domain.MailMessage.
func (s *smtpStandIn) Delivered(t *testing.T) []domain.MailMessage {
	t.Helper()
	var out []domain.MailMessage
	for _, e := range s.Accepted() {
		msg, err := decodeMessage(e.Raw)
		if err != nil {
			t.Errorf("decode message: %v\n%s", err, e.Raw)
			continue
		}
		out = append(out, msg)
	}
	return out
}

type session struct {
	s      *smtpStandIn
	conn   *smtp.Conn
	authed bool
	env    envelope
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) overTLS() bool {
	_, ok := ss.conn.TLSConnectionState()
	return ok
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.s.mu.Lock()
		ss.s.auths = append(ss.s.auths, authAttempt{Mechanism: mech, OverTLS: ss.overTLS(), Username: username, Password: password})
		ss.s.mu.Unlock()
		if username != ss.s.username || password != ss.s.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted"}
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication Required"}
	}
	ss.env = envelope{From: from, OverTLS: ss.overTLS(), Authed: ss.authed}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.rcptErr != nil {
		return ss.s.rcptErr
	}
	ss.env.To = append(ss.env.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.dataErr != nil {
		return ss.s.dataErr
	}
	ss.env.Raw = string(raw)
	ss.s.mu.Lock()
	ss.s.accepted = append(ss.s.accepted, ss.env)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.env = envelope{} }
func (ss *session) Logout() error { return nil }

// decodeMessage turns a received RFC 5322 message back into a MailMessage:
// the ID from the Message-ID, the subject decoded from RFC 2047, the text
// and HTML parts decoded from their transfer encoding.
func decodeMessage(raw string) (domain.MailMessage, error) {
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return domain.MailMessage{}, err
	}
	var out domain.MailMessage
	msgID := strings.TrimSuffix(strings.TrimPrefix(m.Header.Get("Message-Id"), "<"), ">")
	at := strings.LastIndexByte(msgID, '@')
	if at < 0 {
		return out, fmt.Errorf("Message-ID %q has no @", msgID)
	}
	out.ID = msgID[:at]
	if ref := m.Header.Get("X-Entity-Ref-Id"); ref != out.ID {
		return out, fmt.Errorf("X-Entity-Ref-ID %q differs from the Message-ID's %q", ref, out.ID)
	}
	to, err := mail.ParseAddress(m.Header.Get("To"))
	if err != nil {
		return out, fmt.Errorf("To: %w", err)
	}
	out.To = to.Address
	if out.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return out, fmt.Errorf("Subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return out, fmt.Errorf("Content-Type: %w", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodePart(m.Header.Get("Content-Transfer-Encoding"), m.Body)
		if err != nil {
			return out, err
		}
		return out, setPart(&out, mediaType, body)
	}
	if mediaType != "multipart/alternative" {
		return out, fmt.Errorf("Content-Type %s, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var order []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
		}
		// multipart.Reader has already undone quoted-printable.
		body, err := decodePart(p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			return out, err
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return out, err
		}
		order = append(order, pt)
		if err := setPart(&out, pt, body); err != nil {
			return out, err
		}
	}
	if strings.Join(order, ",") != "text/plain,text/html" {
		return out, fmt.Errorf("parts %v, want text/plain then text/html", order)
	}
	return out, nil
}

func decodePart(cte string, r io.Reader) (string, error) {
	switch strings.ToLower(cte) {
	case "base64":
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, r))
		return string(b), err
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(r))
		return string(b), err
	default:
		b, err := io.ReadAll(r)
		return string(b), err
	}
}

func setPart(out *domain.MailMessage, mediaType, body string) error {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		out.Text = body
	case "text/html":
		out.HTML = body
	default:
		return fmt.Errorf("unexpected part %s", mediaType)
	}
	return nil
}
