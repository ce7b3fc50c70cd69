//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse/gatehouse/adapters/devstack"
	"github.com/gatehouse/gatehouse/adapters/s3/s3local"
)

// The local S3 server's bucket and key pair. The pair is fixed and public,
// so that other S3 tools can look into the bucket (for example
// `aws --endpoint-url <S3 endpoint> s3 ls s3://gatehouse-dev --recursive`
// with these as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); the server
// listens on loopback only and keeps nothing after it stops.
const (
	devBucket      = "gatehouse-dev"
	devS3KeyID     = "GATEHOUSEDEVKEY"
	devS3SecretKey = "gatehouse-dev-secret-not-an-aws-key"
)

// devS3Creds is the credential pair the local S3 server accepts.
var devS3Creds = devS3Credentials{AccessKeyID: devS3KeyID, SecretAccessKey: devS3SecretKey}

// devS3 is the local S3 server: s3local (gofakes3 with SigV4 checks, tagging
// and versioned copies) on a free loopback port, with one versioned bucket,
// reached by the real S3 adapter through S3_ENDPOINT with path-style
// addressing, and open to browsers on any origin (devCORS), so that a
// frontend on its own dev server can PUT to a presigned URL. Objects are
// kept in memory: they do not survive a restart, while the database does
// (an upload accepted in an earlier run has no file any more).
type devS3 struct{}

// Name implements devstack.Component.
func (devS3) Name() string { return "s3" }

// Start implements devstack.Component. The server keeps nothing on disk, so
// dir stays empty.
func (devS3) Start(_ context.Context, _ string, log *slog.Logger) (*devstack.Running, error) {
	srv, err := s3local.New(s3local.Config{
		Buckets:     []string{devBucket},
		Region:      devAWSRegion,
		Credentials: aws.Credentials(devS3Creds),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on a free loopback port: %w", err)
	}
	endpoint := "http://" + ln.Addr().String()
	hs := &http.Server{
		Handler:           devCORS(srv),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	exited := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		err := hs.Serve(ln)
		served <- err
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("s3: the local S3 server stopped", "error", err)
			close(exited)
		}
	}()
	log.Info("s3: local S3 server ready", "endpoint", endpoint, "bucket", devBucket)
	return &devstack.Running{
		Env: map[string]string{
			"S3_BUCKET":         devBucket,
			"S3_ENDPOINT":       endpoint,
			"S3_USE_PATH_STYLE": "true",
		},
		Links: []devstack.Link{
			{Name: "S3", URL: endpoint + "  bucket " + devBucket + ", in memory (emptied when dev stops)"},
			{Name: "S3 key pair", URL: devS3KeyID + " / " + devS3SecretKey},
		},
		Stop: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := hs.Shutdown(ctx)
			if err != nil {
				err = errors.Join(err, hs.Close())
			}
			if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
				err = errors.Join(err, serr)
			}
			return err
		},
		Exited: exited,
	}, nil
}

// devCORS lets pages of any origin use presigned URLs of the local S3 server,
// as a bucket CORS rule allowing every origin would (for development only:
// a real bucket should list its frontend's origins). It answers preflights
// itself, before the signature check, which they could never pass, and adds
// the CORS headers to every other answer, errors included, so that a page
// can read why a PUT was refused and see the ETag of one that was not.
// Presigned URLs carry their own authorisation, so no credentials are
// allowed (Access-Control-Allow-Origin is *).
func devCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", strconv.Itoa(int((10 * time.Minute).Seconds())))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "ETag, x-amz-version-id, x-amz-request-id, Content-Length, Content-Disposition")
		next.ServeHTTP(w, r)
	})
}
