//go:build tools

// Package tools pins the AWS Lambda Runtime Interface Emulator, which the
// Lambda entry point's tests run the gatehouse binary under. It is a module
// of its own so that the emulator's dependencies never enter gatehouse's
// go.mod. Build it with `make tools` (bin/aws-lambda-rie).
package tools

import _ "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
