//go:build unix

package devstack_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/devstack"
)

// journal records what the fake components do, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

// fake is a component that records its start and stop.
type fake struct {
	name    string
	env     map[string]string
	fail    error
	exited  chan struct{}
	journal *journal
	dirs    *[]string
}

func (f *fake) Name() string { return f.name }

func (f *fake) Start(_ context.Context, dir string, _ *slog.Logger) (*devstack.Running, error) {
	if f.dirs != nil {
		*f.dirs = append(*f.dirs, dir)
	}
	if f.fail != nil {
		f.journal.add("fail " + f.name)
		return nil, f.fail
	}
	f.journal.add("start " + f.name)
	return &devstack.Running{
		Env:    f.env,
		Links:  []devstack.Link{{Name: f.name, URL: "local://" + f.name}},
		Stop:   func() error { f.journal.add("stop " + f.name); return nil },
		Exited: f.exited,
	}, nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestStartAndStopInOrder(t *testing.T) {
	j := &journal{}
	var dirs []string
	dataDir := filepath.Join(t.TempDir(), "data")
	s, err := devstack.Start(context.Background(), devstack.Options{DataDir: dataDir, Components: []devstack.Component{
		&fake{name: "db", env: map[string]string{"DB_HOST": "127.0.0.1"}, journal: j, dirs: &dirs},
		&fake{name: "s3", env: map[string]string{"S3_ENDPOINT": "http://127.0.0.1:9000"}, journal: j, dirs: &dirs},
	}}, discard)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"DB_HOST": "127.0.0.1", "S3_ENDPOINT": "http://127.0.0.1:9000"}, s.Env()); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]devstack.Link{{Name: "db", URL: "local://db"}, {Name: "s3", URL: "local://s3"}}, s.Links()); diff != "" {
		t.Errorf("Links (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{filepath.Join(dataDir, "db"), filepath.Join(dataDir, "s3")}, dirs); diff != "" {
		t.Errorf("component directories (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(dataDir); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("a new data directory: got %v, %v; want mode 0711", fi.Mode().Perm(), err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
	if diff := cmp.Diff([]string{"start db", "start s3", "stop s3", "stop db"}, j.list()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	select {
	case <-s.Exited():
		t.Error("Exited is closed after Stop; want it closed only when a component stops by itself")
	default:
	}
}

func TestFailedStartStopsWhatStarted(t *testing.T) {
	cases := []struct {
		name       string
		components func(*journal) []devstack.Component
		wantErr    string
		wantEvents []string
	}{
		{
			name: "a component fails",
			components: func(j *journal) []devstack.Component {
				return []devstack.Component{
					&fake{name: "db", journal: j},
					&fake{name: "s3", fail: errors.New("port taken"), journal: j},
				}
			},
			wantErr:    "s3: port taken",
			wantEvents: []string{"start db", "fail s3", "stop db"},
		},
		{
			name: "two components disagree about a variable",
			components: func(j *journal) []devstack.Component {
				return []devstack.Component{
					&fake{name: "db", env: map[string]string{"X": "1"}, journal: j},
					&fake{name: "s3", env: map[string]string{"X": "2"}, journal: j},
				}
			},
			wantErr:    "both set X",
			wantEvents: []string{"start db", "start s3", "stop s3", "stop db"},
		},
		{
			name: "a name that is not a directory name",
			components: func(j *journal) []devstack.Component {
				return []devstack.Component{&fake{name: "../db", journal: j}}
			},
			wantErr:    "not a plain directory name",
			wantEvents: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := &journal{}
			dataDir := t.TempDir()
			_, err := devstack.Start(context.Background(), devstack.Options{DataDir: dataDir, Components: tc.components(j)}, discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Start: got %v, want an error containing %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantEvents, j.list()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// The lock was released: the directory can be used again.
			s, err := devstack.Start(context.Background(), devstack.Options{DataDir: dataDir}, discard)
			if err != nil {
				t.Fatalf("Start after a failed Start: %v", err)
			}
			_ = s.Stop()
		})
	}
}

func TestOneStackPerDataDir(t *testing.T) {
	dataDir := t.TempDir()
	first, err := devstack.Start(context.Background(), devstack.Options{DataDir: dataDir}, discard)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_, err = devstack.Start(context.Background(), devstack.Options{DataDir: dataDir}, discard)
	var running *devstack.AlreadyRunningError
	if !errors.As(err, &running) {
		t.Fatalf("a second Start on the same data dir: got %v, want *AlreadyRunningError", err)
	}
	if diff := cmp.Diff(&devstack.AlreadyRunningError{PID: os.Getpid(), DataDir: dataDir}, running); diff != "" {
		t.Errorf("AlreadyRunningError (-want +got):\n%s", diff)
	}
	want := "gatehouse dev is already running (pid " + strconv.Itoa(os.Getpid()) + ") with data in " + dataDir
	if err.Error() != want {
		t.Errorf("message: got %q, want %q", err.Error(), want)
	}

	other, err := devstack.Start(context.Background(), devstack.Options{DataDir: t.TempDir()}, discard)
	if err != nil {
		t.Fatalf("Start on another data dir: %v", err)
	}
	_ = other.Stop()

	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	again, err := devstack.Start(context.Background(), devstack.Options{DataDir: dataDir}, discard)
	if err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	_ = again.Stop()
}

func TestExitedWhenAComponentStopsByItself(t *testing.T) {
	exited := make(chan struct{})
	s, err := devstack.Start(context.Background(), devstack.Options{DataDir: t.TempDir(), Components: []devstack.Component{
		&fake{name: "db", exited: exited, journal: &journal{}},
	}}, discard)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Stop()
	select {
	case <-s.Exited():
		t.Fatal("Exited is closed while every component runs")
	default:
	}
	close(exited)
	select {
	case <-s.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("Exited was not closed after a component stopped by itself")
	}
}
