// Command forge-e2e-oci is the local end-to-end test's OCI registry, and the e2e node's
// sandbox ("pause") image:
//
//	forge-e2e-oci registry ADDRESS      an OCI registry (go-containerregistry's, in memory)
//	forge-e2e-oci pause [ARG ...]       sleep until SIGTERM or SIGINT, reaping children
//	forge-e2e-oci pause-image REFERENCE push an image of this program (entrypoint
//	                                    `/pause pause`) over plain HTTP; print its digest
//	forge-e2e-oci pause-tarball FILE    the same image as a `docker save` tarball
//
// The packages are built and pushed to the registry by the real crossplane CLI (`crossplane
// xpkg build`, `crossplane xpkg push`); Crossplane pulls them from it over plain HTTP, as
// go-containerregistry does for a loopback registry. containerd pulls the pause image from
// it as the CRI plugin's sandbox_image (the usual registries cannot be reached), and the
// stand-in provider packages embed the tarball as their runtime image: their pods hold
// no controller.
package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "registry":
		srv := &http.Server{Addr: os.Args[2], Handler: registry.New(), ReadHeaderTimeout: 10 * time.Second}
		log.Fatal(srv.ListenAndServe())
	case len(os.Args) >= 2 && os.Args[1] == "pause":
		// A stand-in provider's pod passes its controller's flags (a
		// DeploymentRuntimeConfig's args): there is no controller to take them.
		pause()
	case len(os.Args) == 3 && os.Args[1] == "pause-image":
		digest, err := pushPauseImage(os.Args[2])
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(digest)
	case len(os.Args) == 3 && os.Args[1] == "pause-tarball":
		img, err := pauseImage()
		if err == nil {
			err = tarball.WriteToFile(os.Args[2], name.MustParseReference("forge-e2e/pause:latest"), img)
		}
		if err != nil {
			log.Fatal(err)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: forge-e2e-oci registry ADDRESS | pause | pause-image REFERENCE | pause-tarball FILE")
		os.Exit(2)
	}
}

// pause is what a pod sandbox's first process does: hold the pod's namespaces, reap the
// children it inherits, and exit on SIGTERM or SIGINT.
func pause() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

// pushPauseImage pushes the pause image and returns its digest.
func pushPauseImage(reference string) (string, error) {
	img, err := pauseImage()
	if err != nil {
		return "", err
	}
	ref, err := name.ParseReference(reference, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img); err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

// pauseImage is a one-layer image holding this executable as /pause: the same bytes for
// the same executable (no timestamps).
func pauseImage() (v1.Image, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	program, err := os.ReadFile(self)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(program)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(program); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Config = v1.Config{Entrypoint: []string{"/pause", "pause"}, User: "65535:65535"}
	return mutate.ConfigFile(img, cfg)
}
