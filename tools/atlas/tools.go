//go:build tools

// Package atlas pins the atlas CLI, built from source so that every machine
// runs the same version: go build -o <out> ariga.io/atlas/cmd/atlas
package atlas

import _ "ariga.io/atlas/cmd/atlas"
