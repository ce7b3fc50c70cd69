package pgtest

import (
	"context"
	"net/url"

	"github.com/gatehouse/gatehouse/adapters/postgres/pgcluster"
)

// startCluster creates and starts a private, throw-away cluster in a
// temporary directory (pgcluster does the work); stopping it removes the
// directory.
func startCluster() (*server, error) {
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{})
	if err != nil {
		return nil, err
	}
	admin, err := url.Parse(c.AdminURL(""))
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	return &server{
		admin:       admin,
		host:        c.Host(),
		port:        c.Port(),
		sslMode:     "require",
		caFile:      c.CAFile(),
		stopCluster: c.Stop,
	}, nil
}
