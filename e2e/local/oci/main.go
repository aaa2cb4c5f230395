// Command forge-e2e-oci is the package side of the local end-to-end test:
//
//	forge-e2e-oci registry ADDRESS      an OCI registry (go-containerregistry's, in memory)
//	forge-e2e-oci push DIR REFERENCE    build the xpkg in DIR and push it to REFERENCE
//
// push builds with crossplane-runtime's xpkg.Builder (the library behind
// `crossplane xpkg build`: parse, lint, one annotated package.yaml layer) and pushes
// with its layer annotations, as `crossplane xpkg push` does. It exists because the
// crossplane CLI module cannot be fetched here; it adds no runtime image (Crossplane runs
// with --package-runtime=External, the harness runs the function).
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/afero"

	"github.com/crossplane/crossplane-runtime/v2/pkg/xpkg"
	"github.com/crossplane/crossplane-runtime/v2/pkg/xpkg/parser"
	"github.com/crossplane/crossplane-runtime/v2/pkg/xpkg/parser/examples"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: forge-e2e-oci registry ADDRESS | push DIR REFERENCE")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "registry":
		srv := &http.Server{Addr: os.Args[2], Handler: registry.New(), ReadHeaderTimeout: 10 * time.Second}
		err = srv.ListenAndServe()
	case "push":
		if len(os.Args) != 4 {
			err = fmt.Errorf("usage: forge-e2e-oci push DIR REFERENCE")
			break
		}
		err = push(context.Background(), os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func push(ctx context.Context, dir, reference string) error {
	ref, err := name.ParseReference(reference, name.Insecure)
	if err != nil {
		return err
	}
	meta, err := xpkg.BuildMetaScheme()
	if err != nil {
		return err
	}
	objs, err := xpkg.BuildObjectScheme()
	if err != nil {
		return err
	}
	fs := afero.NewOsFs()
	b := xpkg.New(
		parser.NewFsBackend(fs, parser.FsDir(dir), parser.FsFilters(parser.SkipDirs(), parser.SkipNotYAML(), parser.SkipEmpty())),
		// No examples: a directory that does not exist is what the builder expects then.
		parser.NewFsBackend(fs, parser.FsDir(dir+"/.no-examples")),
		parser.New(meta, objs),
		examples.New(),
	)
	img, _, err := b.Build(ctx)
	if err != nil {
		return err
	}
	img, err = xpkg.AnnotateLayers(img)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", ref.Context().Name(), d)
	return nil
}
