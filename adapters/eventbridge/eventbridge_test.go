package eventbridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/eventbridge"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

const (
	testRegion = "eu-west-1"
	testBus    = "arn:aws:events:eu-west-1:123456789012:event-bus/gatehouse"
	testSource = "gatehouse.test"
	testKeyID  = "AKIDGATEHOUSETEST"
	testSecret = "gatehouse/test/secret/access/key"
)

var testCreds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}

// wireEntry is one entry of a PutEvents request (awsJson1.1).
type wireEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Time         json.Number // epoch seconds
}

// wireDetail is the envelope the adapter puts in Detail.
type wireDetail struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Version    int             `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// standIn is a local stand-in for EventBridge's PutEvents: it verifies the
// SigV4 signature and the entries, can fail chosen entries, and records what
// it received.
type standIn struct {
	srv  *httptest.Server
	keys aws.Credentials

	// plan lists, per event ID, the ErrorCode to answer on each successive
	// appearance of that event ("" accepts); absent or exhausted accepts.
	plan map[string][]string
	// fail, when set, answers the whole request instead.
	fail func(w http.ResponseWriter) bool

	mu        sync.Mutex
	requests  [][]string // event IDs per request
	entries   []wireEntry
	delivered []domain.Event
	problems  []string
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	s := &standIn{keys: testCreds, plan: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Errorf("stand-in: %s", p)
		}
	})
	return s
}

func (s *standIn) problem(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *standIn) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	if err := verifySigV4(r, raw, s.keys, "events", testRegion); err != nil {
		s.problem("%v", err)
		awsError(w, http.StatusBadRequest, "InvalidSignatureException", "bad signature")
		return
	}
	if got := r.Header.Get("X-Amz-Target"); r.Method != http.MethodPost || r.URL.Path != "/" || got != "AWSEvents.PutEvents" {
		s.problem("unexpected request %s %s target %q", r.Method, r.URL.Path, got)
		awsError(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation")
		return
	}
	if s.fail != nil && s.fail(w) {
		return
	}
	var req struct{ Entries []wireEntry }
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		s.problem("body is not JSON: %v", err)
		awsError(w, http.StatusBadRequest, "ValidationException", "bad JSON")
		return
	}
	if n := len(req.Entries); n < 1 || n > 10 {
		s.problem("request has %d entries, want 1 to 10", n)
		awsError(w, http.StatusBadRequest, "ValidationException", "1 to 10 entries")
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	resp := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	var ids []string
	for _, e := range req.Entries {
		var d wireDetail
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			s.problem("Detail is not the JSON envelope: %v", err)
			resp.FailedEntryCount++
			resp.Entries = append(resp.Entries, result{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."})
			continue
		}
		ids = append(ids, d.ID)
		s.entries = append(s.entries, e)
		if e.Source != testSource || e.EventBusName != testBus || e.DetailType != d.Type {
			s.problem("entry %s: Source %q, EventBusName %q, DetailType %q", d.ID, e.Source, e.EventBusName, e.DetailType)
		}
		if secs, err := e.Time.Float64(); err != nil || math.Abs(secs-float64(d.OccurredAt.UnixNano())/1e9) > 0.001 {
			s.problem("entry %s: Time %s, want %v", d.ID, e.Time, d.OccurredAt)
		}
		if codes := s.plan[d.ID]; len(codes) > 0 {
			s.plan[d.ID] = codes[1:]
			if codes[0] != "" {
				resp.FailedEntryCount++
				resp.Entries = append(resp.Entries, result{ErrorCode: codes[0], ErrorMessage: "failed by the stand-in"})
				continue
			}
		}
		s.delivered = append(s.delivered, domain.Event{ID: d.ID, Type: d.Type, Version: d.Version, OccurredAt: d.OccurredAt, Detail: d.Data})
		resp.Entries = append(resp.Entries, result{EventId: fmt.Sprintf("eb-%d", len(s.delivered))})
	}
	s.requests = append(s.requests, ids)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *standIn) Delivered() []domain.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]domain.Event(nil), s.delivered...)
}

func (s *standIn) Requests() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.requests...)
}

func (s *standIn) Entries() []wireEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wireEntry(nil), s.entries...)
}

// awsError answers as an AWS JSON 1.1 service does.
func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

func newPublisher(t *testing.T, endpoint string, opts ...eventbridge.Option) *eventbridge.Publisher {
	t.Helper()
	opts = append([]eventbridge.Option{
		eventbridge.WithBaseEndpoint(endpoint),
		eventbridge.WithCredentials(credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")),
		eventbridge.WithRetryMaxAttempts(1),
		eventbridge.WithEntryBackoff(0),
	}, opts...)
	p, err := eventbridge.New(context.Background(), eventbridge.Config{Region: testRegion, BusName: testBus, Source: testSource}, opts...)
	if err != nil {
		t.Fatalf("New: got error %v, want nil", err)
	}
	return p
}

func events(n int) []domain.Event {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535000000, time.UTC)
	out := make([]domain.Event, n)
	for i := range out {
		out[i] = domain.Event{
			ID:         fmt.Sprintf("e%d", i),
			Type:       "upload.accepted",
			Version:    2,
			OccurredAt: at.Add(time.Duration(i) * time.Second),
			Detail:     fmt.Appendf(nil, `{"upload_id":"u%d"}`, i),
		}
	}
	return out
}

func TestPublisherContract(t *testing.T) {
	t.Parallel()
	porttest.RunEventPublisher(t, func(t *testing.T) (ports.EventPublisher, func() []domain.Event) {
		s := newStandIn(t)
		return newPublisher(t, s.srv.URL), s.Delivered
	})
}

func TestPutEventsEntryCarriesTheEnvelope(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	local := time.FixedZone("CET", 3600)
	e := domain.Event{
		ID:         "0190b7e2-7c1a-7d4e-9a51-3f0c2b8d9e10",
		Type:       "user.registered",
		Version:    1,
		OccurredAt: time.Date(2026, 3, 14, 16, 9, 26, 535000000, local),
		Detail:     []byte(`{ "user_id": "usr-1" }`),
	}
	errs := newPublisher(t, s.srv.URL).Publish(context.Background(), []domain.Event{e})
	if d := cmp.Diff([]error{nil}, errs, cmp.Comparer(func(a, b error) bool { return a == b })); d != "" {
		t.Fatalf("Publish errors differ (-want +got):\n%s", d)
	}
	want := []wireEntry{{
		Source:       testSource,
		DetailType:   "user.registered",
		EventBusName: testBus,
		Detail:       `{"id":"0190b7e2-7c1a-7d4e-9a51-3f0c2b8d9e10","type":"user.registered","version":1,"occurred_at":"2026-03-14T15:09:26.535Z","data":{"user_id":"usr-1"}}`,
	}}
	got := s.Entries()
	for i := range got {
		got[i].Time = "" // checked by the stand-in against occurred_at
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("entries differ (-want +got):\n%s", d)
	}
}

func TestDefaultsForSourceAndBus(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		body = string(raw)
		mu.Unlock()
		fmt.Fprint(w, `{"FailedEntryCount":0,"Entries":[{"EventId":"x"}]}`)
	}))
	t.Cleanup(srv.Close)
	p, err := eventbridge.New(context.Background(), eventbridge.Config{Region: testRegion},
		eventbridge.WithBaseEndpoint(srv.URL),
		eventbridge.WithCredentials(credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")))
	if err != nil {
		t.Fatal(err)
	}
	if errs := p.Publish(context.Background(), events(1)); errs[0] != nil {
		t.Fatalf("Publish: got error %v, want nil", errs[0])
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{`"Source":"gatehouse"`, `"EventBusName":"default"`} {
		if !strings.Contains(body, want) {
			t.Errorf("request %s lacks %s", body, want)
		}
	}
}

func TestBatching(t *testing.T) {
	t.Parallel()
	big := func(n int) []domain.Event {
		evs := events(n)
		for i := range evs {
			evs[i].Detail = fmt.Appendf(nil, `{"blob":%q}`, strings.Repeat("x", 100*1024))
		}
		return evs
	}
	cases := []struct {
		name      string
		events    []domain.Event
		wantSizes []int
	}{
		{"requests hold at most ten entries", events(25), []int{10, 10, 5}},
		{"requests stay under 256 KiB", big(5), []int{2, 2, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t)
			errs := newPublisher(t, s.srv.URL).Publish(context.Background(), tc.events)
			for i, err := range errs {
				if err != nil {
					t.Errorf("event %d: got error %v, want nil", i, err)
				}
			}
			var sizes []int
			for _, r := range s.Requests() {
				sizes = append(sizes, len(r))
			}
			if d := cmp.Diff(tc.wantSizes, sizes); d != "" {
				t.Errorf("request sizes differ (-want +got):\n%s", d)
			}
		})
	}
}

func TestAnEventOverTheSizeLimitIsInvalid(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	evs := events(3)
	evs[1].Detail = fmt.Appendf(nil, `{"blob":%q}`, strings.Repeat("x", 257*1024))
	errs := newPublisher(t, s.srv.URL).Publish(context.Background(), evs)
	if got, want := domain.KindOf(errs[1]), domain.KindInvalid; errs[1] == nil || got != want {
		t.Errorf("event 1: got error %v (kind %v), want kind %v", errs[1], got, want)
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("events 0 and 2: got errors %v, %v, want nil", errs[0], errs[2])
	}
	if d := cmp.Diff([][]string{{"e0", "e2"}}, s.Requests()); d != "" {
		t.Errorf("requests differ (-want +got):\n%s", d)
	}
}

// EventBridge can accept part of a request (FailedEntryCount > 0): only the
// failed entries are sent again, and only when their error is transient.
func TestPartialFailure(t *testing.T) {
	t.Parallel()
	const ok = domain.KindInternal // marks a nil error below
	cases := []struct {
		name         string
		attempts     int
		plan         map[string][]string
		wantRequests [][]string
		wantKinds    []domain.Kind
	}{
		{
			name:         "a transiently failed entry is sent again alone and succeeds",
			attempts:     3,
			plan:         map[string][]string{"e1": {"InternalFailure"}},
			wantRequests: [][]string{{"e0", "e1", "e2"}, {"e1"}},
			wantKinds:    []domain.Kind{ok, ok, ok},
		},
		{
			name:         "only the failed entries are sent again, in order",
			attempts:     3,
			plan:         map[string][]string{"e0": {"ThrottlingException"}, "e2": {"InternalFailure", "ThrottlingException"}},
			wantRequests: [][]string{{"e0", "e1", "e2"}, {"e0", "e2"}, {"e2"}},
			wantKinds:    []domain.Kind{ok, ok, ok},
		},
		{
			name:         "an entry still failing after the last attempt is returned as retryable",
			attempts:     2,
			plan:         map[string][]string{"e1": {"ThrottlingException", "ThrottlingException", "ThrottlingException"}},
			wantRequests: [][]string{{"e0", "e1", "e2"}, {"e1"}},
			wantKinds:    []domain.Kind{ok, domain.KindUnavailable, ok},
		},
		{
			name:         "with one attempt a failed entry is left to the caller",
			attempts:     1,
			plan:         map[string][]string{"e1": {"InternalFailure"}},
			wantRequests: [][]string{{"e0", "e1", "e2"}},
			wantKinds:    []domain.Kind{ok, domain.KindUnavailable, ok},
		},
		{
			name:         "a malformed detail is invalid and never sent again",
			attempts:     3,
			plan:         map[string][]string{"e1": {"MalformedDetail"}},
			wantRequests: [][]string{{"e0", "e1", "e2"}},
			wantKinds:    []domain.Kind{ok, domain.KindInvalid, ok},
		},
		{
			name:         "a permission error waits for the operator and is not sent again now",
			attempts:     3,
			plan:         map[string][]string{"e1": {"NotAuthorizedForSourceException"}},
			wantRequests: [][]string{{"e0", "e1", "e2"}},
			wantKinds:    []domain.Kind{ok, domain.KindUnavailable, ok},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t)
			s.plan = tc.plan
			errs := newPublisher(t, s.srv.URL, eventbridge.WithEntryAttempts(tc.attempts)).Publish(context.Background(), events(3))
			if len(errs) != 3 {
				t.Fatalf("Publish: got %d errors, want 3", len(errs))
			}
			for i, err := range errs {
				want := tc.wantKinds[i]
				switch {
				case want == ok && err != nil:
					t.Errorf("event %d: got error %v, want nil", i, err)
				case want != ok && (err == nil || domain.KindOf(err) != want):
					t.Errorf("event %d: got error %v (kind %v), want kind %v", i, err, domain.KindOf(err), want)
				}
			}
			if d := cmp.Diff(tc.wantRequests, s.Requests()); d != "" {
				t.Errorf("requests differ (-want +got):\n%s", d)
			}
		})
	}
}

func TestRequestErrorsFailEveryEventOfTheRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		code   string
	}{
		{"throttled request", 400, "ThrottlingException"},
		{"internal error", 500, "InternalException"},
		{"service unavailable without a body", 503, ""},
		{"access denied", 400, "AccessDeniedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t)
			s.fail = func(w http.ResponseWriter) bool {
				if tc.code == "" {
					w.WriteHeader(tc.status)
					return true
				}
				awsError(w, tc.status, tc.code, "refused by the stand-in")
				return true
			}
			errs := newPublisher(t, s.srv.URL).Publish(context.Background(), events(3))
			for i, err := range errs {
				if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
					t.Errorf("event %d: got error %v (kind %v), want kind %v", i, err, got, want)
				} else if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "upload_id") {
					t.Errorf("event %d: error %q contains a secret or the detail", i, err)
				}
			}
		})
	}
}

func TestHangingEndpointTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	p := newPublisher(t, srv.URL, eventbridge.WithTimeout(100*time.Millisecond))
	errs := p.Publish(context.Background(), events(2))
	for i, err := range errs {
		if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
			t.Errorf("event %d: got error %v (kind %v), want kind %v", i, err, got, want)
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("event %d: got %v, want an error wrapping context.DeadlineExceeded", i, err)
		}
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(srv.Close)

	errs := newPublisher(t, srv.URL).Publish(context.Background(), events(1))
	if got, want := domain.KindOf(errs[0]), domain.KindUnavailable; errs[0] == nil || got != want {
		t.Fatalf("Publish: got error %v (kind %v), want kind %v", errs[0], got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 0 {
		t.Errorf("server saw %d requests, want 0", calls)
	}
}

// The SDK's standard settings apply: the endpoint from AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_EVENTBRIDGE and credentials from the default chain.
func TestEndpointAndCredentialsComeFromTheEnvironment(t *testing.T) {
	for _, endpointVar := range []string{"AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL"} {
		t.Run(endpointVar, func(t *testing.T) {
			s := newStandIn(t)
			s.keys = aws.Credentials{AccessKeyID: "AKIDFROMENV", SecretAccessKey: "secret-from-env"}
			dir := t.TempDir()
			for k, v := range map[string]string{
				"AWS_ENDPOINT_URL_EVENTBRIDGE": "",
				"AWS_ENDPOINT_URL":             "",
				"AWS_ACCESS_KEY_ID":            "AKIDFROMENV",
				"AWS_SECRET_ACCESS_KEY":        "secret-from-env",
				"AWS_SESSION_TOKEN":            "",
				"AWS_PROFILE":                  "",
				"AWS_CONFIG_FILE":              filepath.Join(dir, "config"),
				"AWS_SHARED_CREDENTIALS_FILE":  filepath.Join(dir, "credentials"),
				"AWS_EC2_METADATA_DISABLED":    "true",
				"AWS_MAX_ATTEMPTS":             "1",
			} {
				t.Setenv(k, v)
			}
			t.Setenv(endpointVar, s.srv.URL)

			p, err := eventbridge.New(context.Background(), eventbridge.Config{Region: testRegion, BusName: testBus, Source: testSource})
			if err != nil {
				t.Fatalf("New: got error %v, want nil", err)
			}
			if errs := p.Publish(context.Background(), events(1)); errs[0] != nil {
				t.Fatalf("Publish: got error %v, want nil", errs[0])
			}
			if got := s.Delivered(); len(got) != 1 || got[0].ID != "e0" {
				t.Errorf("delivered %+v, want event e0", got)
			}
		})
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  eventbridge.Config
		opts []eventbridge.Option
	}{
		{"an empty region", eventbridge.Config{BusName: testBus}, nil},
		{"no entry attempt at all", eventbridge.Config{Region: testRegion}, []eventbridge.Option{eventbridge.WithEntryAttempts(0)}},
		{"a non-positive timeout", eventbridge.Config{Region: testRegion}, []eventbridge.Option{eventbridge.WithTimeout(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if p, err := eventbridge.New(context.Background(), tc.cfg, tc.opts...); err == nil {
				t.Errorf("New: got %v, nil error; want an error", p)
			}
		})
	}
}
