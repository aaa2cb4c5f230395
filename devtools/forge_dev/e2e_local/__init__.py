"""End to end on a local control plane: etcd, kube-apiserver, kube-controller-manager and
Crossplane core as processes on 127.0.0.1, our function as a process, providers played.

Never imported by the function server. Run with ``make e2e-local``.
"""
