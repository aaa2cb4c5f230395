// The local end-to-end test's OCI registry (e2e/local/oci): go-containerregistry's
// registry, at the version tools/go.mod pins.
module github.com/input-output-hk/catalyst-forge/e2e-oci

go 1.26

require github.com/google/go-containerregistry v0.21.6

require (
	github.com/docker/cli v29.4.3+incompatible // indirect
	github.com/docker/docker-credential-helpers v0.9.5 // indirect
	github.com/klauspost/compress v1.18.6 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/sirupsen/logrus v1.9.4 // indirect
	golang.org/x/sync v0.20.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	gotest.tools/v3 v3.5.2 // indirect
)
