package s3

import (
	"testing"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// TestEscapeKeyMatchesSmithy checks escapeKey against the escaping the SDK
// applies to S3 keys, for every byte and some whole keys.
func TestEscapeKeyMatchesSmithy(t *testing.T) {
	t.Parallel()
	var keys []string
	for b := range 256 {
		keys = append(keys, string([]byte{byte(b)}), "a/"+string([]byte{byte(b)})+"/z")
	}
	keys = append(keys, "", "plain/key-1_2.3~4", "with space/and+plus%25=&?#", "résumé/日本語/🙂", "a//b/", "/lead")
	for _, k := range keys {
		if got, want := escapeKey(k), httpbinding.EscapePath(k, false); got != want {
			t.Errorf("escapeKey(%q): got %q, want %q", k, got, want)
		}
	}
}
