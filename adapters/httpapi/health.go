package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/ports"
)

// maxProbeTimeout bounds each readiness probe. Probes get less when the
// request timeout is short, so that /readyz always answers in time.
const maxProbeTimeout = 2 * time.Second

// Health is the body of a live process's /healthz answer.
type Health struct {
	Status string `json:"status" enum:"ok" doc:"Always ok: the process is up and serving."`
}

type healthOutput struct {
	Body Health
}

// healthz answers as long as the process serves HTTP; it checks no
// dependency, so an orchestrator never restarts the service because the
// database is down.
func (s *Server) healthz(context.Context, *struct{}) (*healthOutput, error) {
	return &healthOutput{Body: Health{Status: "ok"}}, nil
}

// Readiness is the body of /readyz when every dependency is usable.
type Readiness struct {
	Status string            `json:"status" enum:"ready" doc:"Always ready in a 200 answer."`
	Checks map[string]string `json:"checks" doc:"Each readiness check by name, with the value ok."`
}

type readyOutput struct {
	Body Readiness
}

// probeResult is the outcome of one probe.
type probeResult struct {
	name string
	err  error
}

// readyz runs every probe concurrently, each with a short timeout, and
// answers 200 only if all pass. While the server is shutting down it answers
// 503 at once so that load balancers stop sending traffic.
func (s *Server) readyz(ctx context.Context, _ *struct{}) (*readyOutput, error) {
	if s.draining.Load() {
		p := newProblem(http.StatusServiceUnavailable, "not_ready", "The server is shutting down.")
		p.Errors = []ProblemError{{Location: "server", Message: "shutting down"}}
		return nil, p
	}
	results := s.runProbes(ctx)
	out := &readyOutput{Body: Readiness{Status: "ready", Checks: make(map[string]string, len(results))}}
	var failed []ProblemError
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, ProblemError{Location: "checks." + r.name, Message: r.err.Error()})
			continue
		}
		out.Body.Checks[r.name] = "ok"
	}
	if len(failed) == 0 {
		return out, nil
	}
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = strings.TrimPrefix(f.Location, "checks.") + ": " + f.Message
	}
	p := newProblem(http.StatusServiceUnavailable, "not_ready", "Not ready: "+strings.Join(parts, "; ")+".")
	p.Errors = failed
	p.cause = errors.New(p.Detail) // readiness failures belong in the error log
	return nil, p
}

func (s *Server) runProbes(ctx context.Context) []probeResult {
	results := make([]probeResult, len(s.probes))
	var wg sync.WaitGroup
	for i, p := range s.probes {
		wg.Go(func() {
			results[i] = probeResult{name: p.Name(), err: s.check(ctx, p)}
		})
	}
	wg.Wait()
	sort.SliceStable(results, func(i, j int) bool { return results[i].name < results[j].name })
	return results
}

// check runs one probe under the probe timeout. A probe that overruns (even
// one that ignores ctx) or panics fails; its message is the probe's own,
// which ports.Probe promises is safe to show.
func (s *Server) check(ctx context.Context, p ports.Probe) error {
	ctx, cancel := context.WithTimeout(ctx, s.probeTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				s.log.ErrorContext(ctx, "readiness probe panicked", "probe", p.Name(), "panic", fmt.Sprint(v), "request_id", RequestID(ctx))
				done <- errors.New("check failed unexpectedly")
			}
		}()
		done <- p.Check(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done: // it did answer, just as time ran out
		default:
			err = ctx.Err()
		}
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", s.probeTimeout)
	}
	return err
}
