"""The e2e node: one real Kubernetes node on this machine, where Crossplane's package
runtime runs our function (and the stand-in providers) as pods.

- containerd and runc (Debian's packages), run by the harness with its own configuration,
  root, state and socket under the workdir: the CRI plugin's ``sandbox_image`` is our pause
  image in the local registry (``forge-e2e-oci pause-image``), pulled over plain HTTP as a
  ``hosts.toml`` under ``config_path`` says; ``restrict_oom_score_adj`` (this machine
  refuses lowering ``oom_score_adj``); the CNI plugins of ``containernetworking-plugins``.
- A bridge of our own, ``forge-e2e0`` at ``10.244.0.1/24``: the bridge plugin attaches
  every pod to it, host-local hands out pod IPs, no masquerading and no default route in
  pods: a pod reaches the node (the bridge's address) and the other pods, nothing else.
- kubelet, kube-scheduler and kube-proxy, built from the same ``k8s.io/kubernetes`` pin as
  the control plane; the kubelet as ``system:node:forge-e2e-node`` under the Node
  authorizer. kube-proxy (iptables mode) makes the Services' ClusterIPs work, so a pod's
  in-cluster config (the ``kubernetes`` Service) reaches the API server; pods get one
  route beyond their subnet, to the Service range through the node.
- Cluster DNS: CoreDNS built with only the plugins it uses, on the bridge's address. It
  answers ``cluster.local`` from the API server and forwards nothing. Crossplane (a host
  process) resolves the function's headless Service through it: see ``resolv_conf``.

``stop`` tears all of it down, also after a failed start: pods' containers and network
namespaces, containerd's mounts under the workdir, kube-proxy's rules, the bridge.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from forge_dev.e2e_local.controlplane import SERVICE_CIDR, TOOLS, ControlPlane, kubeconfig
from forge_dev.e2e_local.kube import Kube, is_true
from forge_dev.e2e_local.procs import HarnessError, Proc, Procs, free_port, wait_for

NODE_NAME = "forge-e2e-node"
BRIDGE = "forge-e2e0"
POD_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"  # the bridge's address: the node as its pods see it
CLUSTER_DOMAIN = "cluster.local"
PAUSE_REPOSITORY = "forge-e2e/pause"
CNI_BIN = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
NAMESPACE = "k8s.io"  # containerd's namespace of the CRI plugin

# What CoreDNS's kubernetes plugin reads (as the system:coredns role of a kubeadm cluster).
COREDNS_RULES = [
    {
        "apiGroups": [""],
        "resources": ["endpoints", "services", "pods", "namespaces"],
        "verbs": ["list", "watch"],
    },
    {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["list", "watch"],
    },
]
COREDNS_USER = "forge-e2e:coredns"
# The user Kubernetes' bootstrap RBAC binds to the system:node-proxier ClusterRole.
KUBE_PROXY_USER = "system:kube-proxy"


@dataclass(frozen=True)
class NodeTools:
    containerd: Path
    ctr: Path
    runc: Path
    ip: Path
    kubelet: Path
    scheduler: Path
    proxy: Path
    iptables: Path
    coredns: Path
    oci: Path

    @classmethod
    def find(cls, tools: Path = TOOLS) -> NodeTools:
        """The node's programs, or an error naming each missing one and where it comes from."""
        debian = {
            "containerd": "containerd",
            "ctr": "containerd",
            "runc": "runc",
            "ip": "iproute2",
            "iptables": "iptables",
        }
        found: dict[str, Path] = {}
        missing = []
        for prog, package in debian.items():
            path = shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/sbin")
            if path is None:
                missing.append(f"{prog} (Debian package {package})")
            else:
                found[prog] = Path(path)
        built = {"kubelet": "kubelet", "scheduler": "kube-scheduler", "coredns": "coredns"}
        built["proxy"] = "kube-proxy"
        built["oci"] = "forge-e2e-oci"
        for key, prog in built.items():
            found[key] = tools / prog
            if not found[key].exists():
                missing.append(f"{found[key]} (make kube-tools)")
        if not (CNI_BIN / "bridge").exists():
            missing.append(f"{CNI_BIN / 'bridge'} (Debian package containernetworking-plugins)")
        if missing:
            raise HarnessError(
                f"the e2e node needs {', '.join(missing)}: `bash .ci/run` installs them"
            )
        return cls(**found)


def containerd_config(workdir: Path, sandbox_image: str) -> str:
    """containerd 1.6's configuration (version 2): everything under ``workdir``."""
    d = workdir / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{d / "root"}"',
            f'state = "{d / "state"}"',
            "[grpc]",
            f'  address = "{d / "containerd.sock"}"',
            "[ttrpc]",
            f'  address = "{d / "containerd.sock.ttrpc"}"',
            f"[{cri}]",
            f'  sandbox_image = "{sandbox_image}"',
            # This machine refuses lowering oom_score_adj; runc then fails with "can't get
            # final child's PID from pipe".
            "  restrict_oom_score_adj = true",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.cni]",
            f'  bin_dir = "{CNI_BIN}"',
            f'  conf_dir = "{workdir / "cni" / "net.d"}"',
            f"[{cri}.registry]",
            f'  config_path = "{d / "certs.d"}"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{d / "opt"}"',
            "",
        ]
    )


def registry_hosts(registry: str) -> str:
    """containerd's ``hosts.toml`` for the local registry: plain HTTP."""
    return (
        f'server = "http://{registry}"\n\n'
        f'[host."http://{registry}"]\n  capabilities = ["pull", "resolve"]\n'
    )


def cni_conflist(workdir: Path) -> dict:
    """The pod network: our bridge, host-local addresses, no masquerading, no default
    route: one route beyond the pod subnet, to the Service range through the node (where
    kube-proxy's rules translate a ClusterIP to its endpoints)."""
    return {
        "cniVersion": "1.0.0",
        "name": "forge-e2e",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": SERVICE_CIDR, "gw": NODE_IP}],
                    "dataDir": str(workdir / "cni" / "ipam"),
                },
            }
        ],
    }


def corefile(
    kubeconfig_path: Path,
    health_port: int,
    ready_port: int,
    *,
    address: str = NODE_IP,
    port: int = 53,
) -> str:
    """Cluster DNS: ``cluster.local`` from the API server and nothing else (there is no
    forward plugin in the binary); every other name gets REFUSED."""
    return (
        f"{CLUSTER_DOMAIN}:{port} {{\n"
        f"  bind {address}\n"
        "  errors\n"
        "  log\n"
        f"  health 127.0.0.1:{health_port}\n"
        f"  ready 127.0.0.1:{ready_port}\n"
        f"  kubernetes {CLUSTER_DOMAIN} {{\n"
        f"    kubeconfig {kubeconfig_path} local\n"
        "  }\n"
        "}\n"
    )


def kubelet_config(workdir: Path, ca: Path, port: int, healthz_port: int) -> dict:
    """The KubeletConfiguration this machine needs (cgroupfs, no QoS cgroups, swap on)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{workdir / 'containerd' / 'containerd.sock'}",
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [NODE_IP],
        # Pods with dnsPolicy Default get no nameserver: none of the host's resolvers.
        "resolvConf": "",
        "podLogsDir": str(workdir / "kubelet" / "pod-logs"),
        "staticPodPath": "",
        "serializeImagePulls": False,
    }


def kube_proxy_config(kubeconfig_path: Path, healthz_port: int, metrics_port: int) -> dict:
    """kube-proxy in iptables mode for the one node: its health and metrics on 127.0.0.1,
    NodePorts only on the node's address, no sysctl changed on this machine (conntrack
    limits untouched, no ``route_localnet`` for localhost NodePorts)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig_path)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": POD_SUBNET,
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "conntrack": {"maxPerCore": 0, "min": 0},
    }


class Bridge:
    """The node's bridge ``forge-e2e0`` with the node's address: made before the control
    plane when the API server listens there (e2e-local), else by the node itself."""

    def __init__(self, ip: Path) -> None:
        self.ip = ip
        self.made = False

    def up(self) -> Bridge:
        shown = subprocess.run([self.ip, "link", "show", BRIDGE], capture_output=True, check=False)
        if shown.returncode == 0:  # a previous run's, killed before teardown
            _run(self.ip, "link", "delete", BRIDGE)
        _run(self.ip, "link", "add", BRIDGE, "type", "bridge")
        self.made = True
        _run(self.ip, "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _run(self.ip, "link", "set", BRIDGE, "up")
        return self

    def down(self) -> None:
        if self.made:
            subprocess.run(
                [str(self.ip), "link", "delete", BRIDGE], capture_output=True, check=False
            )
            self.made = False


def _run(*argv: str | Path) -> str:
    out = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise HarnessError(f"{' '.join(map(str, argv))} failed: {out.stdout}{out.stderr}")
    return out.stdout


def schedulable(node: dict | None) -> bool:
    """Ready, and no taint left that keeps pods off (the not-ready taint a new node gets)."""
    return is_true(node, "Ready") and not (node.get("spec") or {}).get("taints")


class Node:
    """containerd, CoreDNS, kube-scheduler, kube-proxy and a kubelet, in ``workdir/node``;
    on ``bridge`` when given (its owner removes it), else on a bridge of its own."""

    def __init__(
        self,
        workdir: Path,
        cp: ControlPlane,
        kube: Kube,
        registry: str,
        bridge: Bridge | None = None,
    ) -> None:
        self.workdir = workdir / "node"
        self.logs = workdir / "logs"
        self.cp = cp
        self.kube = kube
        self.registry = registry
        self.tools = NodeTools.find()
        self.procs = Procs()
        self.sandbox_image = ""
        self._netns_before: set[str] = set()
        self._own_bridge = bridge is None
        self.bridge = bridge or Bridge(self.tools.ip)
        self._proxy_started = False

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def resolv_conf(self) -> Path:
        """A resolv.conf naming only the cluster DNS, with a pod's search list (Crossplane's
        resolver reads it: see crossplane.py)."""
        return self.workdir / "resolv.conf"

    def start(self, timeout: float = 180) -> Node:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        self._netns_before = _netns()
        self._pause_image()
        if self._own_bridge:
            self.bridge.up()
        self._containerd()
        self._coredns()
        self._scheduler()
        self._kubelet()
        self.kube.wait(
            f"node {NODE_NAME} Ready and untainted",
            lambda: schedulable(self.kube.get("v1", "Node", NODE_NAME)),
            timeout=timeout,
            alive=self.procs.check_alive,
        )
        self._kube_proxy()  # once its Node exists: it reads the node's addresses from it

    # --- parts -------------------------------------------------------------------------
    def _run(self, *argv: str | Path) -> str:
        return _run(*argv)

    def _pause_image(self) -> None:
        ref = f"{self.registry}/{PAUSE_REPOSITORY}:1"
        digest = self._run(self.tools.oci, "pause-image", ref).strip()
        self.sandbox_image = f"{self.registry}/{PAUSE_REPOSITORY}@{digest}"

    def _containerd(self) -> None:
        d = self.workdir / "containerd"
        hosts = d / "certs.d" / self.registry / "hosts.toml"
        hosts.parent.mkdir(parents=True)
        hosts.write_text(registry_hosts(self.registry))
        (d / "config.toml").write_text(containerd_config(self.workdir, self.sandbox_image))
        net = self.workdir / "cni" / "net.d"
        net.mkdir(parents=True)
        (net / "10-forge-e2e.conflist").write_text(json.dumps(cni_conflist(self.workdir), indent=2))
        self.procs.start(
            Proc(
                "containerd",
                [str(self.tools.containerd), f"--config={d / 'config.toml'}"],
                self.logs / "containerd.log",
            )
        )
        wait_for(
            f"containerd on {self.socket}",
            lambda: self._ctr("version"),
            timeout=30,
            alive=self.procs.check_alive,
        )

    def _ctr(self, *args: str) -> str:
        return self._run(
            self.tools.ctr, f"--address={self.socket}", f"--namespace={NAMESPACE}", *args
        )

    def _kubeconfig(self, name: str, user: str, organization: str | None = None) -> Path:
        assert self.cp.ca is not None
        crt, key = self.cp.ca.issue(user, organization=organization, client=True)
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(kubeconfig(self.cp.url, self.cp.ca.cert_pem, crt, key, name))
        path.chmod(0o600)
        return path

    def _coredns(self) -> None:
        self.kube.apply_all(
            [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": COREDNS_USER},
                    "rules": COREDNS_RULES,
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": COREDNS_USER},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": COREDNS_USER,
                    },
                    "subjects": [
                        {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "User",
                            "name": COREDNS_USER,
                        }
                    ],
                },
            ]
        )
        health, ready = free_port(), free_port()
        conf = self.workdir / "Corefile"
        conf.write_text(corefile(self._kubeconfig("coredns", COREDNS_USER), health, ready))
        self.procs.start(
            Proc(
                "coredns", [str(self.tools.coredns), "-conf", str(conf)], self.logs / "coredns.log"
            )
        )
        wait_for(
            "CoreDNS /ready",
            lambda: _http_ok(f"http://127.0.0.1:{ready}/ready"),
            timeout=60,
            alive=self.procs.check_alive,
        )
        self.resolv_conf.write_text(
            f"nameserver {NODE_IP}\nsearch svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\noptions ndots:5\n"
        )

    def _scheduler(self) -> None:
        kc = self._kubeconfig("kube-scheduler", "system:kube-scheduler")
        port = free_port()
        self.procs.start(
            Proc(
                "kube-scheduler",
                [
                    str(self.tools.scheduler),
                    f"--kubeconfig={kc}",
                    f"--authentication-kubeconfig={kc}",
                    f"--authorization-kubeconfig={kc}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    f"--cert-dir={self.workdir / 'kube-scheduler-certs'}",
                    "--leader-elect=false",
                    "--v=1",
                ],
                self.logs / "kube-scheduler.log",
            )
        )

    def _kube_proxy(self) -> None:
        kc = self._kubeconfig("kube-proxy", KUBE_PROXY_USER)
        config = self.workdir / "kube-proxy.yaml"
        healthz = free_port()
        config.write_text(json.dumps(kube_proxy_config(kc, healthz, free_port())))
        self._proxy_started = True
        self.procs.start(
            Proc(
                "kube-proxy",
                [str(self.tools.proxy), f"--config={config}", "--v=1"],
                self.logs / "kube-proxy.log",
            )
        )
        wait_for(
            "kube-proxy /healthz",
            lambda: _http_ok(f"http://127.0.0.1:{healthz}/healthz"),
            timeout=60,
            alive=self.procs.check_alive,
        )

    def _kubelet(self) -> None:
        kc = self._kubeconfig("kubelet", f"system:node:{NODE_NAME}", "system:nodes")
        config = self.workdir / "kubelet.yaml"
        healthz = free_port()
        config.write_text(
            json.dumps(
                kubelet_config(self.workdir, self.cp.pki_dir / "ca.crt", free_port(), healthz)
            )
        )
        self.procs.start(
            Proc(
                "kubelet",
                [
                    str(self.tools.kubelet),
                    f"--config={config}",
                    f"--kubeconfig={kc}",
                    f"--root-dir={self.workdir / 'kubelet'}",
                    f"--cert-dir={self.workdir / 'kubelet-certs'}",
                    f"--hostname-override={NODE_NAME}",
                    f"--node-ip={NODE_IP}",
                    "--v=1",
                ],
                self.logs / "kubelet.log",
            )
        )

    # --- what the summary shows ------------------------------------------------------
    def describe(self) -> str:
        node = self.kube.get("v1", "Node", NODE_NAME) or {}
        info = (node.get("status") or {}).get("nodeInfo") or {}
        ready = "Ready" if is_true(node, "Ready") else "NotReady"
        return (
            f"node {NODE_NAME} {ready} (kubelet {info.get('kubeletVersion')}, "
            f"{info.get('containerRuntimeVersion')}, pods on {POD_SUBNET})"
        )

    def check_alive(self) -> None:
        self.procs.check_alive()

    # --- teardown ----------------------------------------------------------------------
    def stop(self) -> None:
        """Stop everything this node started and remove what it left: containers (and
        their shims), pod network namespaces, mounts under the workdir, the bridge."""
        kubelet = [p for p in self.procs.items if p.name != "containerd"]
        for proc in reversed(kubelet):
            proc.stop()
        if self.socket.exists():
            with contextlib.suppress(HarnessError, subprocess.TimeoutExpired):
                self._remove_containers()
        self._kill_shims()
        self.procs.stop_all()
        if self._proxy_started:  # its iptables chains and rules (the KUBE-* ones)
            subprocess.run(
                [str(self.tools.proxy), "--cleanup", "--v=0"],
                capture_output=True,
                check=False,
                timeout=60,
            )
            self._proxy_started = False
        for ns in _netns() - self._netns_before:
            if ns.startswith("cni-"):
                subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
        _unmount_under(self.workdir)
        _remove_log_links(self.workdir)
        if self._own_bridge:
            self.bridge.down()

    def _remove_containers(self) -> None:
        for task in self._ctr("tasks", "list", "--quiet").split():
            subprocess.run(
                [
                    str(self.tools.ctr),
                    f"--address={self.socket}",
                    f"--namespace={NAMESPACE}",
                    "tasks",
                    "kill",
                    "--signal=SIGKILL",
                    task,
                ],
                capture_output=True,
                check=False,
                timeout=30,
            )
        for task in self._ctr("tasks", "list", "--quiet").split():
            subprocess.run(
                [
                    str(self.tools.ctr),
                    f"--address={self.socket}",
                    f"--namespace={NAMESPACE}",
                    "tasks",
                    "delete",
                    "--force",
                    task,
                ],
                capture_output=True,
                check=False,
                timeout=30,
            )
        for container in self._ctr("containers", "list", "--quiet").split():
            subprocess.run(
                [
                    str(self.tools.ctr),
                    f"--address={self.socket}",
                    f"--namespace={NAMESPACE}",
                    "containers",
                    "delete",
                    container,
                ],
                capture_output=True,
                check=False,
                timeout=30,
            )

    def _kill_shims(self) -> None:
        """containerd's shims outlive it by design; ours are those given our socket."""
        needle = f"-address {self.socket}".encode()
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"containerd-shim" in cmdline and needle in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid_dir.name), signal.SIGKILL)


def _netns() -> set[str]:
    d = Path("/var/run/netns")
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def _unmount_under(root: Path) -> None:
    """Unmount every mount under ``root``, deepest first (containerd's rootfs, shm, the
    kubelet's volumes)."""
    prefix = str(root.resolve()) + "/"
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def _remove_log_links(root: Path) -> None:
    """The kubelet links each container's log into /var/log/containers (a fixed path):
    remove the links into ``root`` that a forced teardown leaves."""
    d = Path("/var/log/containers")
    if not d.is_dir():
        return
    for link in d.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and str(link.readlink()).startswith(str(root) + "/"):
                link.unlink()


def _http_ok(url: str) -> bool:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status == 200
