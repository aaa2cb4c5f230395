//go:build tools

// Package tools keeps helm's command in this module's build list.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
