package httpapi

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/domain"
)

// An operation whose handler reads a prefetched upload but that did not ask
// for one is a bug: it must be a 500, never another user's view or a 404.
func TestPrefetchedUploadWithoutPrefetch(t *testing.T) {
	for name, ctx := range map[string]context.Context{
		"no session":           context.Background(),
		"a session, no upload": context.WithValue(context.Background(), authKey{}, &authState{}),
	} {
		if _, err := prefetchedUpload(ctx); domain.KindOf(err) != domain.KindInternal {
			t.Errorf("%s: got error %v (kind %v), want kind %v", name, err, domain.KindOf(err), domain.KindInternal)
		}
	}
	up := domain.Upload{ID: "01890a5d-ac96-7a4b-bcce-b302099a8057"}
	got, err := prefetchedUpload(context.WithValue(context.Background(), authKey{}, &authState{prefetched: true, upload: &up}))
	if err != nil || got.ID != up.ID {
		t.Errorf("prefetched upload: got %v, %v; want %s", got.ID, err, up.ID)
	}
	_, err = prefetchedUpload(context.WithValue(context.Background(), authKey{}, &authState{prefetched: true}))
	if domain.KindOf(err) != domain.KindNotFound || domain.CodeOf(err) != "not_found" {
		t.Errorf("prefetched, none found: got %v, want KindNotFound not_found", err)
	}
}
