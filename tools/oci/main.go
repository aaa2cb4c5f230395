// Command forge-e2e-oci is the local end-to-end test's OCI registry:
//
//	forge-e2e-oci registry ADDRESS      an OCI registry (go-containerregistry's, in memory)
//
// The packages are built and pushed to it by the real crossplane CLI (`crossplane xpkg
// build`, `crossplane xpkg push`); Crossplane pulls them from it over plain HTTP, as
// go-containerregistry does for a loopback registry.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "registry" {
		fmt.Fprintln(os.Stderr, "usage: forge-e2e-oci registry ADDRESS")
		os.Exit(2)
	}
	srv := &http.Server{Addr: os.Args[2], Handler: registry.New(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
