package postgres

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/domain"
)

// translate turns a driver error into a *domain.Error at the adapter's edge,
// keeping the driver's error as the cause for the logs. It returns nil for
// nil and leaves a *domain.Error alone.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	kind, msg := classify(err)
	return &domain.Error{Kind: kind, Op: op, Msg: msg, Err: err}
}

func classify(err error) (domain.Kind, string) {
	if errors.Is(err, sql.ErrNoRows) {
		return domain.KindNotFound, ""
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifyCode(pgErr.Code)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return domain.KindUnavailable, "the database did not answer in time"
	case errors.As(err, &connErr), errors.As(err, &netErr), errors.Is(err, sql.ErrConnDone),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return domain.KindUnavailable, "the database is unreachable"
	}
	return domain.KindInternal, ""
}

// classifyCode maps SQLSTATE classes to kinds
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
func classifyCode(code string) (domain.Kind, string) {
	switch code {
	case "23505", "23P01": // unique_violation, exclusion_violation
		return domain.KindConflict, ""
	case "23503": // foreign_key_violation: the referenced row is gone or still referenced
		return domain.KindConflict, ""
	case "40001", "40P01": // serialization_failure, deadlock_detected: retry
		return domain.KindUnavailable, "the database asked to retry the transaction"
	case "57014": // query_canceled (statement_timeout)
		return domain.KindUnavailable, "the database did not answer in time"
	case "28000", "28P01": // invalid_authorization_specification, invalid_password
		return domain.KindUnavailable, "the database refused the login"
	case "42501": // insufficient_privilege: a deployment problem, not the caller's
		return domain.KindInternal, ""
	}
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"), // insufficient resources (too many connections, disk full)
		strings.HasPrefix(code, "57"), // operator intervention (shutdown, crash recovery)
		strings.HasPrefix(code, "3D"): // invalid catalog name: the database does not exist
		return domain.KindUnavailable, "the database is unavailable"
	case strings.HasPrefix(code, "22"), // data exception (bad value)
		strings.HasPrefix(code, "23"): // other integrity violations (not null, check)
		return domain.KindInvalid, ""
	}
	return domain.KindInternal, ""
}

// SQLSTATE codes the stores look at by name.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// constraintViolated reports whether err is a unique violation of the named
// constraint or unique index.
func constraintViolated(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation && pgErr.ConstraintName == name
}

// notFound is the KindNotFound error of a lookup that matched no row.
func notFound(op, msg string) error {
	return &domain.Error{Kind: domain.KindNotFound, Op: op, Msg: msg}
}
