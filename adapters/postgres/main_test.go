package postgres_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
