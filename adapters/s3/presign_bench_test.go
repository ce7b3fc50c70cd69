package s3_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// BenchmarkPresignPut measures one presigned upload, as POST /v1/uploads
// makes it (with a declared digest).
func BenchmarkPresignPut(b *testing.B) {
	store, err := newStoreErr(testConfig("http://127.0.0.1:9"))
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("hello"))
	req := ports.PutRequest{Key: porttest.UploadPrefix + "0196f0c2-7a3e-7b1d-9c4e-5f6a7b8c9d0e", ContentType: "image/png", Size: 123456, SHA256: sum[:]}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.PresignPut(ctx, req, 15*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func newStoreErr(cfg s3.Config) (*s3.ObjectStore, error) { return s3.New(context.Background(), cfg) }

// BenchmarkPresignGet measures one presigned download of a version.
func BenchmarkPresignGet(b *testing.B) {
	store, err := newStoreErr(testConfig("http://127.0.0.1:9"))
	if err != nil {
		b.Fatal(err)
	}
	req := ports.GetRequest{Key: porttest.DownloadPrefix + "0196f0c2-7a3e-7b1d-9c4e-5f6a7b8c9d0e", VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", Filename: "holiday photo.png", ContentType: "image/png"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.PresignGet(ctx, req, 15*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
