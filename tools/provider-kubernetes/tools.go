//go:build tools

// Package tools pins the command make kube-tools builds from this module.
package tools

import _ "github.com/crossplane-contrib/provider-kubernetes/cmd/provider"
