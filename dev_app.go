package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// This file holds what initDev (wire.go) needs. Unlike the rest of dev, it
// builds on every platform, since wire_gen.go does.

// devApp is what `gatehouse dev` runs: serve's API and outbox dispatcher,
// plus what the local scanner and the dev routes need.
type devApp struct {
	Server     *httpapi.Server
	Schema     *postgres.SchemaProbe
	Dispatcher *app.Dispatcher
	Uploads    *app.Uploads
	Stores     app.UploadStores
	Objects    ports.ObjectStore
}

// devS3Credentials are the key pair of dev's local S3 server. The S3 adapter
// gets them explicitly, never from the process environment, so that an AWS
// profile in the shell can neither leak into dev nor break it.
type devS3Credentials aws.Credentials

// newDevS3Config is newS3Config with dev's local S3 credentials.
func newDevS3Config(cfg *config.Config, creds devS3Credentials) s3.Config {
	c := newS3Config(cfg)
	c.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")
	return c
}

// devEventLog is dev's ports.EventPublisher: the domain events the outbox
// dispatcher delivers are checked as the EventBridge adapter checks them
// (by inmem.EventPublisher) and written to the log; they go no further.
type devEventLog struct {
	events *inmem.EventPublisher
	log    *slog.Logger
}

var _ ports.EventPublisher = (*devEventLog)(nil)

func newDevEventLog(log *slog.Logger) *devEventLog {
	return &devEventLog{events: inmem.NewEventPublisher(), log: log.With("component", "events")}
}

// Publish implements ports.EventPublisher.
func (p *devEventLog) Publish(ctx context.Context, events []domain.Event) []error {
	errs := p.events.Publish(ctx, events)
	for i, e := range events {
		if errs[i] == nil {
			p.log.InfoContext(ctx, "event published (dev: logged here, sent nowhere)",
				"event_id", e.ID, "type", e.Type, "detail", json.RawMessage(e.Detail))
		}
	}
	return errs
}
