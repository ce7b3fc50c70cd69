//go:build !unix

package main

import (
	"context"
	"errors"
	"io"
)

// runDev is unavailable here: `gatehouse dev` starts PostgreSQL as a child
// process with Unix process controls (credentials, process groups, flock).
func runDev(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errors.New("gatehouse dev runs on Linux and macOS (on Windows, use WSL)")
}
