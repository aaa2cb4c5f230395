// Command etcd is etcd's own server entry point (go.etcd.io/etcd/server/v3/etcdmain), built
// at the version k8s.io/kubernetes requires. etcd's main module (go.etcd.io/etcd/v3) has
// replace directives, so it cannot be built as a dependency; its server module can.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
