//go:build tools

// Package tools keeps the crossplane CLI's command in this module's build list.
package tools

import _ "github.com/crossplane/crossplane/v2/cmd/crank"
