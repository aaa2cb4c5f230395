// The local end-to-end test's OCI registry (e2e/local/oci): go-containerregistry's
// registry, at the version tools/go.mod pins.
module github.com/input-output-hk/catalyst-forge/e2e-oci

go 1.26

require github.com/google/go-containerregistry v0.21.6

require (
	github.com/docker/docker-credential-helpers v0.9.5 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
