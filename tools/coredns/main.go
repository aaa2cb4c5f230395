// Command coredns is the e2e node's cluster DNS: CoreDNS built with only the plugins its
// Corefile uses. It answers cluster.local from the API server (the kubernetes plugin) and
// has no plugin that could send a query anywhere else (no forward, no proxy, no hosts).
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
