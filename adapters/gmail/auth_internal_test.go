package gmail

import (
	"errors"
	"testing"

	"github.com/wneessen/go-mail/smtp"
)

// go-mail's PLAIN auth allows clear text towards localhost; tlsOnlyAuth
// does not, whatever the host.
func TestTLSOnlyAuthRefusesUnencryptedConnections(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		server  smtp.ServerInfo
		wantErr error
	}{
		{"clear text to localhost is refused", smtp.ServerInfo{Name: "localhost", Auth: []string{"PLAIN"}}, errPlaintextAuth},
		{"clear text to 127.0.0.1 is refused", smtp.ServerInfo{Name: "127.0.0.1", Auth: []string{"PLAIN"}}, errPlaintextAuth},
		{"clear text to a remote host is refused", smtp.ServerInfo{Name: "smtp.gmail.com", Auth: []string{"PLAIN"}}, errPlaintextAuth},
		{"a verified TLS connection authenticates", smtp.ServerInfo{Name: "smtp.gmail.com", TLS: true, Auth: []string{"PLAIN"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := tlsOnlyAuth{smtp.PlainAuth("", "u@gmail.com", "pw", tc.server.Name, false)}
			server := tc.server
			proto, resp, err := a.Start(&server)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Start: got error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if resp != nil {
					t.Errorf("Start: got response %q with the error, want none", resp)
				}
				return
			}
			if got, want := proto, "PLAIN"; got != want {
				t.Errorf("Start: got mechanism %q, want %q", got, want)
			}
			if got, want := string(resp), "\x00u@gmail.com\x00pw"; got != want {
				t.Errorf("Start: got response %q, want %q", got, want)
			}
		})
	}
}
