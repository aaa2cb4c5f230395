"""The e2e node (devtools/forge_dev/e2e_local/node.py): what its configuration promises,
and cluster DNS (the CoreDNS ``make kube-tools`` builds) answering cluster.local from the
real API server while forwarding nothing.

The CoreDNS test is marked ``e2e_local``: it skips when the binaries are not built,
unless ``FORGE_E2E_LOCAL_REQUIRED=1``.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from forge_dev.e2e_local.controlplane import (
    KUBERNETES_SERVICE_IP,
    SERVICE_CIDR,
    TOOLS,
    ControlPlane,
    Tools,
)
from forge_dev.e2e_local.crossplane import Crossplane, in_resolver_namespace
from forge_dev.e2e_local.node import (
    BRIDGE,
    CNI_BIN,
    NODE_IP,
    POD_SUBNET,
    cni_conflist,
    containerd_config,
    corefile,
    kube_proxy_config,
    kubelet_config,
    registry_hosts,
)
from forge_dev.e2e_local.procs import HarnessError, Proc, Procs, free_port, wait_for

WORK = Path("/tmp/forge-e2e-work")


# --- configuration -------------------------------------------------------------------
def test_containerd_keeps_its_state_in_the_workdir_and_pulls_only_our_sandbox_image():
    config = tomllib.loads(containerd_config(WORK, "127.0.0.1:5000/forge-e2e/pause@sha256:ab"))
    assert config["root"] == str(WORK / "containerd" / "root")
    assert config["state"] == str(WORK / "containerd" / "state")
    assert config["grpc"]["address"] == str(WORK / "containerd" / "containerd.sock")
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "127.0.0.1:5000/forge-e2e/pause@sha256:ab"
    # The machine refuses lowering oom_score_adj: runc fails without this.
    assert cri["restrict_oom_score_adj"] is True
    assert cri["cni"] == {"bin_dir": str(CNI_BIN), "conf_dir": str(WORK / "cni" / "net.d")}
    assert cri["registry"]["config_path"] == str(WORK / "containerd" / "certs.d")


def test_the_local_registry_is_pulled_over_plain_http():
    hosts = tomllib.loads(registry_hosts("127.0.0.1:41234"))
    assert hosts["server"] == "http://127.0.0.1:41234"
    assert hosts["host"]["http://127.0.0.1:41234"]["capabilities"] == ["pull", "resolve"]


def test_pods_reach_only_the_node_and_each_other():
    (bridge,) = cni_conflist(WORK)["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == BRIDGE
    assert bridge["ipMasq"] is False  # nothing leaves the machine with the node's address
    ipam = bridge["ipam"]
    assert ipam["ranges"] == [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]]
    # No default route in a pod: one route beyond its subnet, to the Service range
    # through the node, where kube-proxy translates a ClusterIP.
    assert ipam["routes"] == [{"dst": SERVICE_CIDR, "gw": NODE_IP}]
    assert ipam["dataDir"].startswith(str(WORK))


def test_kube_proxy_serves_cluster_ips_and_changes_nothing_else_on_the_machine():
    config = kube_proxy_config(Path("/k/kube-proxy.kubeconfig"), 10256, 10249)
    assert config["kind"] == "KubeProxyConfiguration" and config["mode"] == "iptables"
    assert config["clientConnection"]["kubeconfig"] == "/k/kube-proxy.kubeconfig"
    assert config["clusterCIDR"] == POD_SUBNET
    # NodePorts only on the node's own address, none on the machine's other interfaces
    # or on localhost (which would need route_localnet).
    assert config["nodePortAddresses"] == [f"{NODE_IP}/32"]
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["healthzBindAddress"] == "127.0.0.1:10256"
    assert config["metricsBindAddress"] == "127.0.0.1:10249"
    # conntrack's sysctls are the machine's: 0 leaves them as they are.
    assert config["conntrack"]["maxPerCore"] == 0 and config["conntrack"]["min"] == 0


def test_the_api_server_certificate_covers_its_address_and_the_kubernetes_service(tmp_path):
    """A pod's in-cluster config dials the kubernetes Service's ClusterIP (and its DNS
    names); kube-proxy sends that to the address the API server advertises."""
    from cryptography import x509  # noqa: PLC0415

    cp = ControlPlane(tmp_path, Tools(Path("etcd"), Path("a"), Path("c")), address=NODE_IP)
    cp._write_pki()
    cert = x509.load_pem_x509_certificate((cp.pki_dir / "apiserver.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(i) for i in sans.get_values_for_type(x509.IPAddress)}
    assert {NODE_IP, KUBERNETES_SERVICE_IP, "127.0.0.1"} <= ips
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert cp.url.startswith(f"https://{NODE_IP}:")


def test_cluster_dns_serves_only_cluster_local_and_has_no_forwarder():
    conf = corefile(Path("/k/coredns.kubeconfig"), 8080, 8181)
    zones = [line for line in conf.splitlines() if line.endswith("{") and not line.startswith(" ")]
    assert zones == ["cluster.local:53 {"]
    assert f"bind {NODE_IP}" in conf
    assert "kubernetes cluster.local {" in conf
    for plugin in ("forward", "proxy", "hosts", "file", "auto"):
        assert f"  {plugin} " not in conf and f"  {plugin}\n" not in conf


def test_kubelet_uses_what_this_machine_needs_and_cluster_dns_only():
    config = kubelet_config(WORK, Path("/ca.crt"), 10250, 10248)
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupsPerQOS"] is False
    assert config["failSwapOn"] is False
    assert config["enforceNodeAllocatable"] == []
    assert config["clusterDNS"] == [NODE_IP]
    assert config["resolvConf"] == ""  # never the host's resolvers
    assert config["containerRuntimeEndpoint"] == f"unix://{WORK / 'containerd' / 'containerd.sock'}"
    assert config["authentication"]["anonymous"] == {"enabled": False}


def test_crossplane_resolves_through_the_given_resolv_conf(tmp_path):
    """Crossplane's process sees the node's resolv.conf as /etc/resolv.conf, in a mount
    namespace of its own; with no resolv.conf it runs as before."""
    prefix = in_resolver_namespace(tmp_path / "resolv.conf")
    assert prefix[:3] == ["unshare", "--mount", "--propagation=private"]
    assert prefix[-1] == str(tmp_path / "resolv.conf")
    assert "mount --bind" in prefix[-2] and "/etc/resolv.conf" in prefix[-2]


@pytest.mark.skipif(os.geteuid() != 0, reason="a mount namespace needs root")
def test_the_resolver_namespace_shows_the_file_and_leaves_the_host_alone(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {NODE_IP}\nsearch svc.cluster.local cluster.local\n")
    host = Path("/etc/resolv.conf").read_text() if Path("/etc/resolv.conf").exists() else None
    log = tmp_path / "cat.log"
    proc = Proc("cat", [*in_resolver_namespace(resolv), "cat", "/etc/resolv.conf"], log).start()
    assert proc.popen.wait(30) == 0, proc.tail()
    assert log.read_text() == resolv.read_text()
    if host is not None:
        assert Path("/etc/resolv.conf").read_text() == host


def test_crossplane_without_a_node_keeps_the_host_resolver(tmp_path):
    xp = Crossplane(None, None, tmp_path)  # type: ignore[arg-type]
    assert xp.resolv_conf is None


def _coredns_or_skip() -> Path:
    coredns = TOOLS / "coredns"
    if not coredns.exists():
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise HarnessError(f"missing {coredns}: run `make kube-tools`")
        pytest.skip(f"missing {coredns}: run `make kube-tools`")
    return coredns


def test_the_cluster_dns_binary_cannot_send_a_query_anywhere():
    """The CoreDNS we build has the plugins of its Corefile (and what they pull in), none
    that sends a query on: no forward, grpc, etcd, hosts, file or cache of another's."""
    out = subprocess.run(
        [str(_coredns_or_skip()), "-plugins"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "kubernetes" in out
    assert not {"forward", "grpc", "etcd", "route53", "clouddns", "azure", "hosts", "file"} & set(
        out
    )


# --- cluster DNS against the real API server ------------------------------------------
def _query(port: int, name: str) -> tuple[int, list[str]]:
    """One A query to 127.0.0.1:port: (rcode, the answer's IPv4 addresses)."""
    ident = random.randrange(1 << 16)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(packet, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    rid, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    assert rid == ident
    offset = 12 + len(qname) + 4
    addresses = []
    for _ in range(an):
        if data[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while data[offset]:
                offset += data[offset] + 1
            offset += 1
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == 1:
            addresses.append(socket.inet_ntoa(data[offset : offset + length]))
        offset += length
    return flags & 0xF, addresses


@pytest.mark.e2e_local
def test_cluster_dns_answers_a_headless_service_and_refuses_the_rest(tmp_path):
    coredns = _coredns_or_skip()
    try:
        tools = Tools.find()
    except HarnessError as exc:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise
        pytest.skip(str(exc))
    from forge_dev.e2e_local.kube import Kube  # noqa: PLC0415 (the optional e2e extra)

    cp = ControlPlane(tmp_path, tools).start()
    kube = Kube(cp.kubeconfig, tmp_path / "cache")
    procs = Procs()
    try:
        kube.apply_all(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "fn", "namespace": "default"},
                    "spec": {"clusterIP": "None", "ports": [{"name": "grpc", "port": 9443}]},
                },
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": "fn-1",
                        "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "fn"},
                    },
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": ["10.244.0.7"], "conditions": {"ready": True}}],
                    "ports": [{"name": "grpc", "port": 9443, "protocol": "TCP"}],
                },
            ]
        )
        port, health, ready = free_port(), free_port(), free_port()
        conf = tmp_path / "Corefile"
        conf.write_text(corefile(cp.kubeconfig, health, ready, address="127.0.0.1", port=port))
        procs.start(Proc("coredns", [str(coredns), "-conf", str(conf)], tmp_path / "coredns.log"))

        def answered():
            rcode, addresses = _query(port, "fn.default.svc.cluster.local")
            return addresses if rcode == 0 and addresses else None

        assert wait_for("CoreDNS answers", answered, timeout=60, alive=procs.check_alive) == [
            "10.244.0.7"
        ]
        t = time.monotonic()
        rcode, addresses = _query(port, "example.com")
        assert (rcode, addresses) == (5, [])  # REFUSED, at once: nothing is forwarded
        assert time.monotonic() - t < 2
        log = json.dumps((tmp_path / "coredns.log").read_text())
        assert "forward" not in log
    finally:
        procs.stop_all()
        kube.close()
        cp.stop()


# --- the node against the real control plane ---------------------------------------------
def _node_tools_or_skip():
    from forge_dev.e2e_local.node import NodeTools  # noqa: PLC0415

    try:
        return Tools.find(), NodeTools.find()
    except HarnessError as exc:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise
        pytest.skip(str(exc))


def _leftovers(workdir: Path) -> list[str]:
    """What a node could leave on the machine: its bridge, pod network namespaces, mounts
    under its workdir, containerd shims, kube-proxy's iptables chains and rules."""
    found = []
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        found.append(f"bridge {BRIDGE}")
    netns = Path("/var/run/netns")
    found += [f"netns {p.name}" for p in netns.iterdir()] if netns.is_dir() else []
    found += [
        f"mount {line.split()[4]}"
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(workdir))
    ]
    for pid in Path("/proc").iterdir():
        if pid.name.isdigit():
            try:
                cmd = (pid / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmd and str(workdir).encode() in cmd:
                found.append(f"shim {pid.name}")
    for table in ("nat", "filter"):
        rules = subprocess.run(
            ["iptables-save", "-t", table], capture_output=True, text=True, check=False
        ).stdout
        found += [f"iptables {table} {line}" for line in rules.splitlines() if "KUBE-" in line]
    return found


@pytest.mark.e2e_local
@pytest.mark.skipif(os.geteuid() != 0, reason="a node needs root")
def test_node_runs_a_pod_from_the_local_registry_and_leaves_nothing(tmp_path):
    """The node comes up Ready and schedulable, with the API server on the node's address
    (as e2e-local runs it) reached through the kubernetes Service's ClusterIP; it runs a
    pod of an image from the local registry with an address on the node's bridge, and
    its teardown removes the bridge, the pod's network namespace, every mount, the shims
    and kube-proxy's rules."""
    from forge_dev.e2e_local.kube import Kube  # noqa: PLC0415 (the optional e2e extra)
    from forge_dev.e2e_local.node import Bridge, Node  # noqa: PLC0415
    from forge_dev.e2e_local.packages import Registry  # noqa: PLC0415

    tools, node_tools = _node_tools_or_skip()
    before = _leftovers(tmp_path)
    bridge = Bridge(node_tools.ip).up()
    cp = ControlPlane(tmp_path, tools, address=NODE_IP).start()
    kube = Kube(cp.kubeconfig, tmp_path / "cache")
    registry = Registry(tmp_path).start()
    node = None
    try:
        node = Node(tmp_path, cp, kube, registry.host, bridge).start()
        assert "Ready" in node.describe()
        # What a pod's in-cluster config dials: https://10.0.0.1:443, translated by
        # kube-proxy's rules to the address the API server advertises.
        cluster_ip = f"https://{KUBERNETES_SERVICE_IP}:443"
        ready = wait_for(
            f"GET {cluster_ip}/readyz",
            lambda: _get_with(cp, f"{cluster_ip}/readyz"),
            timeout=60,
            alive=node.check_alive,
        )
        assert ready == "ok"
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "pause", "namespace": "default"},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "pause", "image": node.sandbox_image}],
                },
            }
        )

        def running():
            status = (kube.get("v1", "Pod", "pause", "default") or {}).get("status") or {}
            return status if status.get("phase") == "Running" else None

        status = kube.wait("the pod Running", running, timeout=120, alive=node.check_alive)
        assert status["podIP"].startswith(POD_SUBNET.rsplit(".", 1)[0] + ".")
        assert status["containerStatuses"][0]["imageID"] == node.sandbox_image
    finally:
        if node is not None:
            node.stop()
        registry.stop()
        kube.close()
        cp.stop()
        bridge.down()
    assert _leftovers(tmp_path) == before


def _get_with(cp: ControlPlane, url: str) -> str:
    """GET as the control plane's admin, verifying the server against its CA."""
    import ssl  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    ctx = ssl.create_default_context(cafile=str(cp.pki_dir / "ca.crt"))
    ctx.load_cert_chain(str(cp.pki_dir / "admin.crt"), str(cp.pki_dir / "admin.key"))
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        return resp.read().decode()


class _Pods:
    def __init__(self, pods: list[dict]) -> None:
        self.pods = pods
        self.asked: tuple = ()

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.asked = (api_version, kind, namespace, label_selector)
        return self.pods


def _pod(phase: str, ready: bool) -> dict:
    return {
        "metadata": {"name": "fn-abc"},
        "spec": {"nodeName": "forge-e2e-node"},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"ready": ready, "image": "r/fn:v1", "imageID": "r/fn@sha256:aa"}
            ],
        },
    }


def test_the_function_pod_counts_only_when_running_and_ready():
    from forge_dev.e2e_local.packages import FUNCTION_NAME, FunctionPod, function_pod  # noqa: PLC0415

    kube = _Pods([_pod("Pending", False), _pod("Running", False)])
    assert function_pod(kube) is None
    assert kube.asked == (
        "v1",
        "Pod",
        "crossplane-system",
        f"pkg.crossplane.io/function={FUNCTION_NAME}",
    )
    kube.pods.append(_pod("Running", True))
    assert function_pod(kube) == FunctionPod(
        "fn-abc", "forge-e2e-node", "r/fn:v1", "r/fn@sha256:aa"
    )


def test_pause_holds_on_with_a_controllers_flags_and_exits_on_sigterm(tmp_path):
    """A stand-in provider's pod runs pause with the flags its DeploymentRuntimeConfig
    gives the controller (provider-kubernetes gets --sanitize-secrets): it must keep
    running, then stop cleanly on SIGTERM."""
    oci = TOOLS / "forge-e2e-oci"
    if not oci.exists():
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise HarnessError(f"missing {oci}: run `make kube-tools`")
        pytest.skip(f"missing {oci}: run `make kube-tools`")
    proc = subprocess.Popen([str(oci), "pause", "--sanitize-secrets", "--debug"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(1)
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        proc.kill()
