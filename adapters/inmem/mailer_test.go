package inmem_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

func TestMailerContract(t *testing.T) {
	t.Parallel()
	porttest.RunMailer(t, func(t *testing.T) (ports.Mailer, func() []domain.MailMessage) {
		m := inmem.NewMailer()
		return m, m.Sent
	})
}

func TestMailerFailNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fail      int
		kind      domain.Kind
		sends     int
		wantKinds []domain.Kind // per send; KindInternal marks success
		wantSent  int
	}{
		{"no queued failure: every send succeeds", 0, domain.KindUnavailable, 2, []domain.Kind{ok, ok}, 2},
		{"the next n sends fail with the given kind, then sends succeed", 2, domain.KindUnavailable, 3, []domain.Kind{domain.KindUnavailable, domain.KindUnavailable, ok}, 1},
		{"a queued invalid failure is reported as invalid", 1, domain.KindInvalid, 2, []domain.Kind{domain.KindInvalid, ok}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := inmem.NewMailer()
			m.FailNext(tc.fail, tc.kind)
			for i := range tc.sends {
				msg := domain.MailMessage{ID: "m1", To: "a@example.com", Subject: "s", Text: "t"}
				err := m.Send(context.Background(), msg)
				want := tc.wantKinds[i]
				switch {
				case want == ok && err != nil:
					t.Errorf("send %d: got error %v, want nil", i, err)
				case want != ok && domain.KindOf(err) != want:
					t.Errorf("send %d: got error %v (kind %v), want kind %v", i, err, domain.KindOf(err), want)
				}
			}
			if got := len(m.Sent()); got != tc.wantSent {
				t.Errorf("Sent: got %d messages, want %d", got, tc.wantSent)
			}
		})
	}
}

// ok marks an expected success in the tables above.
const ok = domain.KindInternal
