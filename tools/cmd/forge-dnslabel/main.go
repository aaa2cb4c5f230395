// Command forge-dnslabel prints, one line per argument, the name Crossplane gives a package
// it installs as a dependency: xpkg.ToDNSLabel of the reference's repository path, as
// crossplane v2.3.4 internal/controller/pkg/resolver/reconciler.go (NewPackage) does.
// With -raw it prints xpkg.ToDNSLabel of each argument as given. The tests hold
// forge.xpkg equal to it.
//
//	forge-dnslabel xpkg.crossplane.io/crossplane-contrib/provider-helm   # crossplane-contrib-provider-helm
//	forge-dnslabel -raw 'Some/Text'
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/crossplane/crossplane-runtime/v2/pkg/xpkg"
	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	raw := flag.Bool("raw", false, "print ToDNSLabel of each argument, not of its repository path")
	flag.Parse()
	for _, arg := range flag.Args() {
		if *raw {
			fmt.Println(xpkg.ToDNSLabel(arg))
			continue
		}
		ref, err := name.ParseReference(arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "forge-dnslabel:", err)
			os.Exit(1)
		}
		fmt.Println(xpkg.ToDNSLabel(ref.Context().RepositoryStr()))
	}
}
