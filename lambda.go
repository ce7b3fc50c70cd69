package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/wire"

	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// lambdaRuntimeAPIEnv is set by AWS Lambda (and by the Runtime Interface
// Emulator) for a function's runtime process: the address of the Runtime
// API the process takes its invocations from.
const lambdaRuntimeAPIEnv = "AWS_LAMBDA_RUNTIME_API"

// What a scheduler tick looks like. The schedule's target Input should be
// lambdaTickInput (EventBridge Scheduler fills in the time); a schedule
// without Input sends EventBridge Scheduler's default notification, and a
// scheduled EventBridge rule its "Scheduled Event": both are ticks too.
const (
	lambdaTickField     = "tick"
	lambdaTickInput     = `{"gatehouse":"tick","scheduled_time":"<aws.scheduler.scheduled-time>"}`
	scheduledDetailType = "Scheduled Event"
	sourceScheduler     = "aws.scheduler"
	sourceEventsRule    = "aws.events"
)

// Outcomes of an invocation, in its response.
const (
	lambdaHandled = "handled" // a scan verdict was applied (or was a duplicate, late, or about an object that is not an upload)
	lambdaIgnored = "ignored" // not an event for this function, or unreadable: acknowledged so it is not delivered again
	lambdaTicked  = "tick"    // one outbox sweep and one reconciler pass ran
)

// lambdaOutboxSet is outboxSet without metrics: nothing scrapes a Lambda
// execution environment; each tick logs what its sweep did instead.
var lambdaOutboxSet = wire.NewSet(
	postgres.NewOutboxQueue,
	wire.Bind(new(ports.OutboxQueue), new(*postgres.OutboxQueue)),
	wire.Struct(new(app.DispatcherPorts), "Queue", "Mailer", "Events", "Clock"),
	newDispatcher,
)

// lambdaApp is what `gatehouse lambda` runs.
type lambdaApp struct {
	Uploads    *app.Uploads
	Dispatcher *app.Dispatcher
	Schema     *postgres.SchemaProbe
}

// runLambda is the AWS Lambda function: it takes invocations from the
// Lambda Runtime API until the process is stopped. The function is invoked
// by an EventBridge rule with GuardDuty Malware Protection for S3's scan
// results (event pattern {"source": ["aws.guardduty"], "detail-type":
// ["GuardDuty Malware Protection Object Scan Result"]}; see lambdaHandler)
// and by an EventBridge Scheduler schedule (for example every minute) whose
// target Input is lambdaTickInput. Deployed as a custom runtime's bootstrap
// (provided.al2023), the binary picks this command by itself (see run).
//
// It uses the app role and the same configuration as serve. Every
// execution environment holds its own connection pool, so DB_MAX_CONNS
// should be small (2 is plenty: one invocation runs at a time), and the
// function's timeout long enough for an outbox sweep (a minute or more).
// Like serve, it refuses to start against an unmigrated database; a start
// that fails (database down) fails the invocation, which Lambda retries.
func runLambda(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lambda", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"lambda takes no arguments"}
	}
	if getenv(lambdaRuntimeAPIEnv) == "" {
		return fmt.Errorf("lambda: %s is not set: this command is the AWS Lambda function and runs only under AWS Lambda or the Lambda Runtime Interface Emulator", lambdaRuntimeAPIEnv)
	}
	log := newLogger(stderr, getenv("LOG_LEVEL"))
	cfg, err := loadConfig(getenv, log)
	if err != nil {
		return err
	}
	la, cleanup, err := initLambda(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := la.Schema.Check(ctx); err != nil {
		return fmt.Errorf("refusing to handle events: %w", err)
	}
	log.Info("lambda function ready")
	// StartWithOptions serves invocations until the Runtime API goes away,
	// then exits the process.
	lambda.StartWithOptions(newLambdaHandler(la.Uploads, la.Dispatcher, log), lambda.WithContext(ctx))
	return nil
}

// lambdaHandler handles one invocation of the Lambda function. It takes the
// raw payload (it is a lambda.Handler), so that a payload that is not even
// JSON is acknowledged rather than failed by the runtime library.
//
//   - A GuardDuty Malware Protection object scan result is decoded
//     leniently (guardduty.Decode) and applied by app.Uploads.HandleVerdict,
//     which finds the upload by bucket and key, checks the object version
//     and ETag, and is idempotent: a duplicate or late delivery changes
//     nothing.
//   - A scheduler tick (see lambdaTickInput) runs one outbox sweep
//     (app.Dispatcher.Drain) and one reconciler pass (app.Uploads.Reconcile).
//   - Anything else, and a scan result that cannot be read, is logged and
//     acknowledged: delivering it again cannot help.
//
// A failure that may pass (the database or the object store unavailable,
// or an unexpected error) is returned as the invocation's error, so that
// Lambda delivers the event again (twice for EventBridge's asynchronous
// invocations, then to the function's failure destination); the
// reconciler settles what is still lost after that from the object's scan
// tag. The error returned to Lambda says only what kind of failure it was:
// the details, which may name internal hosts, go to the log.
type lambdaHandler struct {
	uploads    *app.Uploads
	dispatcher *app.Dispatcher
	log        *slog.Logger
}

var _ lambda.Handler = (*lambdaHandler)(nil)

func newLambdaHandler(uploads *app.Uploads, dispatcher *app.Dispatcher, log *slog.Logger) *lambdaHandler {
	return &lambdaHandler{uploads: uploads, dispatcher: dispatcher, log: log.With("component", "lambda")}
}

// lambdaResponse is the function's result, for the invocation log.
type lambdaResponse struct {
	Outcome string `json:"outcome"`
	// Reason says why an event was ignored: foreign_event, malformed_event
	// or the code of a verdict the uploads refused.
	Reason    string           `json:"reason,omitempty"`
	Outbox    *lambdaOutbox    `json:"outbox,omitempty"`
	Reconcile *lambdaReconcile `json:"reconcile,omitempty"`
}

// lambdaOutbox is what a tick's outbox sweep did.
type lambdaOutbox struct {
	Claimed  int `json:"claimed"`
	Sent     int `json:"sent"`
	Retried  int `json:"retried"`
	Dead     int `json:"dead"`
	Released int `json:"released"`
}

// lambdaReconcile is what a tick's reconciler pass did.
type lambdaReconcile struct {
	Settled int `json:"settled"`
	Waiting int `json:"waiting"`
	Expired int `json:"expired"`
}

// lambdaEnvelope is what the handler reads of any payload to tell the
// events apart.
type lambdaEnvelope struct {
	Gatehouse  string `json:"gatehouse"`
	ID         string `json:"id"`
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// Invoke handles one invocation; see lambdaHandler.
func (h *lambdaHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := h.handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

func (h *lambdaHandler) handle(ctx context.Context, payload []byte) (lambdaResponse, error) {
	log := h.log
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	var env lambdaEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		// A field of an unexpected type still leaves the others decoded.
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
			log.WarnContext(ctx, "invocation payload is not a JSON object: acknowledged and dropped", "bytes", len(payload))
			return lambdaResponse{Outcome: lambdaIgnored, Reason: guardduty.CodeMalformedEvent}, nil
		}
	}
	log = log.With("event_id", env.ID, "source", env.Source, "detail_type", env.DetailType)
	if isTick(env) {
		return h.tick(ctx, log)
	}
	v, err := guardduty.Decode(payload)
	switch {
	case errors.Is(err, guardduty.ErrForeignEvent):
		log.InfoContext(ctx, "event for another function: acknowledged and dropped", "why", err.Error())
		return lambdaResponse{Outcome: lambdaIgnored, Reason: guardduty.CodeForeignEvent}, nil
	case err != nil:
		log.WarnContext(ctx, "unreadable scan result: acknowledged and dropped", "error", err.Error())
		return lambdaResponse{Outcome: lambdaIgnored, Reason: guardduty.CodeMalformedEvent}, nil
	}
	err = h.uploads.HandleVerdict(ctx, v)
	switch kind := domain.KindOf(err); {
	case err == nil:
		return lambdaResponse{Outcome: lambdaHandled}, nil
	case kind == domain.KindInvalid || kind == domain.KindNotFound || kind == domain.KindConflict ||
		kind == domain.KindForbidden || kind == domain.KindUnauthenticated:
		// The uploads refused the verdict itself: it would be refused
		// again.
		log.ErrorContext(ctx, "scan result refused: acknowledged and dropped", "kind", kind.String(), "error", err.Error())
		return lambdaResponse{Outcome: lambdaIgnored, Reason: domain.CodeOf(err)}, nil
	default:
		log.ErrorContext(ctx, "scan result not applied: failing the invocation so that it is delivered again", "kind", kind.String(), "error", err.Error())
		return lambdaResponse{}, retryError(kind)
	}
}

// isTick reports whether the payload is a scheduler tick.
func isTick(env lambdaEnvelope) bool {
	if env.Gatehouse == lambdaTickField {
		return true
	}
	return env.DetailType == scheduledDetailType && (env.Source == sourceScheduler || env.Source == sourceEventsRule)
}

// tickReserve is the part of the invocation's time kept back from a tick's
// work: in-flight deliveries get the dispatcher's shutdown grace once the
// sweep's time is up, and the outcomes must be recorded before Lambda's
// deadline.
const tickReserve = 12 * time.Second

// tick runs one outbox sweep, then one reconciler pass, within the
// invocation's deadline: the sweep may use half of the time left (minus
// tickReserve), the pass what remains. It fails the invocation when either
// failed, so failing ticks show in the function's error metrics; the next
// tick tries again either way.
func (h *lambdaHandler) tick(ctx context.Context, log *slog.Logger) (lambdaResponse, error) {
	start := time.Now()
	sweepCtx, cancel := context.WithCancel(ctx)
	reconcileCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline) - tickReserve
		cancel()
		sweepCtx, cancel = context.WithTimeout(ctx, max(left/2, 0))
		var cancelReconcile context.CancelFunc
		reconcileCtx, cancelReconcile = context.WithDeadline(ctx, deadline.Add(-tickReserve/2))
		defer cancelReconcile()
	}
	sent, sweepErr := h.dispatcher.Drain(sweepCtx)
	cancel()
	rep, reconcileErr := h.uploads.Reconcile(reconcileCtx)
	res := lambdaResponse{
		Outcome:   lambdaTicked,
		Outbox:    &lambdaOutbox{Claimed: sent.Claimed, Sent: sent.Sent, Retried: sent.Retried, Dead: sent.Dead, Released: sent.Released},
		Reconcile: &lambdaReconcile{Settled: rep.Settled, Waiting: rep.Waiting, Expired: rep.Expired},
	}
	log.InfoContext(ctx, "tick done", "outbox", res.Outbox, "reconcile", res.Reconcile, "elapsed", time.Since(start).String())
	if err := errors.Join(sweepErr, reconcileErr); err != nil {
		kind := domain.KindOf(err)
		log.ErrorContext(ctx, "tick failed in part; the next one tries again", "kind", kind.String(), "error", err.Error())
		return lambdaResponse{}, retryError(kind)
	}
	return res, nil
}

// retryError is the invocation error Lambda records (and the failure
// destination receives) for a failure that may pass. It names the kind of
// failure only.
func retryError(kind domain.Kind) error {
	return messages.InvokeResponse_Error{
		Type:    "gatehouse." + kind.String(),
		Message: "gatehouse could not handle the event now (" + kind.String() + "); deliver it again",
	}
}
