"""The runtime image runs as Crossplane runs it: a container serving RunFunction over mTLS.

The image ``make image`` builds for this machine's architecture is loaded into podman
(Debian's, with runc; .ci/run sets it up) and started the way Crossplane's Deployment
runtime starts a Function (crossplane v2.3.4 internal/controller/pkg/runtime/
runtime_override_options.go:356-384): its server Secret's ``tls.crt``, ``tls.key`` and
``ca.crt`` mounted read-only at ``/tls/server``, ``TLS_SERVER_CERTS_DIR`` naming it
(runtime.go:59-63), port 9443, a non-root user. The server certificate names the Service
as Crossplane's initializer does (internal/initializer/tls.go:379-385), and the caller
presents a client certificate from the same CA. An example is then rendered through the
container by Crossplane's engine and must equal its golden.

Without podman this skips, except under CI or ``FORGE_E2E_LOCAL_REQUIRED=1``, where it fails.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge_dev.e2e_local.pki import CA
from forge_dev.packaging import image
from forge_dev.render import FunctionServers
from forge_dev.render.examples import render_stage, stages
from tests.conformance.conftest import ROOT

pytestmark = pytest.mark.runtime_image

SERVICE, NAMESPACE = "function-forge", "crossplane-system"
SERVER_NAME = f"{SERVICE}.{NAMESPACE}"  # what Crossplane dials: dns:///<svc>.<ns>:9443
CERTS_DIR = "/tls/server"
EXAMPLE = ROOT / "examples" / "cluster-vcluster"
STARTUP_S = 90
PROXY = ROOT / "tests" / "support" / "mtls_proxy.py"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {args[0]} failed (its setup on Debian: docs/development.md, "
            f"'The runtime image'): {result.stderr[-2000:]}"
        )
    return result


@pytest.fixture(scope="module", autouse=True)
def _podman() -> None:
    missing = [t for t in ("podman", "runc") if shutil.which(t) is None]
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not installed: `apt-get install podman runc` "
        "(docs/development.md, 'The runtime image')"
    )
    if os.environ.get("CI") or os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """The server Secret's three keys in a directory, and Crossplane's client pair."""
    ca = CA.create("crossplane-root-ca")
    dns = (SERVICE, SERVER_NAME, f"{SERVER_NAME}.svc")
    server_crt, server_key = ca.issue(SERVICE, dns=dns, server=True)
    client_crt, client_key = ca.issue("crossplane", client=True)
    stranger_crt, stranger_key = CA.create("someone-else").issue("crossplane", client=True)
    root = tmp_path_factory.mktemp("tls")
    server = root / "server"
    server.mkdir()
    files = {
        server / "tls.crt": server_crt,
        server / "tls.key": server_key,
        server / "ca.crt": ca.cert_pem,
        root / "client.crt": client_crt,
        root / "client.key": client_key,
        root / "stranger.crt": stranger_crt,
        root / "stranger.key": stranger_key,
    }
    for path, data in files.items():
        path.write_bytes(data)
        path.chmod(0o644)  # a Secret volume's default mode: readable by the non-root user
    for directory in (root, server):
        directory.chmod(0o755)
    return {"server": server, "ca": server / "ca.crt", **{p.stem + p.suffix: p for p in files}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def channel(target: str, pki: dict[str, Path], client: str | None = "client") -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki[f"{client}.key"].read_bytes() if client else None,
        certificate_chain=pki[f"{client}.crt"].read_bytes() if client else None,
    )
    return grpc.secure_channel(
        target, credentials, options=[("grpc.ssl_target_name_override", SERVER_NAME)]
    )


@pytest.fixture(scope="module")
def container(tmp_path_factory, pki) -> dict[str, str]:
    """The image, built for this machine and running in podman; its address and name."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
    (built,) = image.build(ROOT, tmp_path_factory.mktemp("image"), "0.0.0-podman", [arch])
    print(f"runtime image {built.arch} {built.digest}: {built.size / 2**20:.1f} MiB")
    loaded = podman("load", "--quiet", "--input", str(built.tarball)).stdout
    tag = loaded.strip().rpartition("Loaded image: ")[2].split(",")[0].strip()
    name = f"forge-image-test-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    podman(
        "run",
        "--detach",
        "--runtime=runc",
        f"--name={name}",
        "--read-only",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
        f"--publish=127.0.0.1:{port}:9443",
        f"--volume={pki['server']}:{CERTS_DIR}:ro",
        f"--env=TLS_SERVER_CERTS_DIR={CERTS_DIR}",
        tag,
    )
    target = f"127.0.0.1:{port}"
    try:
        _wait_serving(target, pki, name)
        yield {"target": target, "name": name, "tag": tag}
    finally:
        podman("rm", "--force", "--time=5", name, check=False)
        podman("rmi", "--force", tag, check=False)


def _wait_serving(target: str, pki: dict[str, Path], name: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    with channel(target, pki) as ch:
        while time.monotonic() < deadline:
            state = podman("inspect", "--format={{.State.Running}}", name, check=False)
            if state.stdout.strip() != "true":
                break
            try:
                grpc.channel_ready_future(ch).result(timeout=2)
                return
            except grpc.FutureTimeoutError:
                continue
    logs = podman("logs", name, check=False)
    raise AssertionError(
        f"the image is not serving at {target}: {(logs.stdout + logs.stderr)[-3000:]}"
    )


EXAMPLE_STAGES = [s for s in stages() if s.example == EXAMPLE]


def test_the_image_renders_an_example_as_its_golden(container, pki):
    """Crossplane's engine, through a caller with Crossplane's client certificate."""
    proxy = [
        sys.executable,
        str(PROXY),
        f"--upstream={container['target']}",
        f"--ca={pki['ca']}",
        f"--cert={pki['client.crt']}",
        f"--key={pki['client.key']}",
        f"--server-name={SERVER_NAME}",
    ]
    assert EXAMPLE_STAGES
    with FunctionServers(own_command=proxy) as servers:
        for stage in EXAMPLE_STAGES:
            assert render_stage(stage, servers) == stage.expected.read_text(), stage.name


@pytest.mark.parametrize("client", [None, "stranger"], ids=["no-certificate", "another-ca"])
def test_the_image_refuses_a_caller_without_crossplanes_client_certificate(container, pki, client):
    with channel(container["target"], pki, client) as ch:
        stub = grpcv1.FunctionRunnerServiceStub(ch)
        with pytest.raises(grpc.RpcError) as caught:
            stub.RunFunction(fnv1.RunFunctionRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_image_runs_as_non_root_without_a_shell(container):
    pid = podman("inspect", "--format={{.State.Pid}}", container["name"]).stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    ids = {line.split(":")[0]: line.split()[1:] for line in status if line[:4] in ("Uid:", "Gid:")}
    assert ids == {"Uid": ["65532"] * 4, "Gid": ["65532"] * 4}
    shell = podman(
        "run",
        "--rm",
        "--runtime=runc",
        "--entrypoint=/bin/sh",
        container["tag"],
        "-c",
        "true",
        check=False,
    )
    assert shell.returncode != 0
    assert "/bin/sh" in shell.stderr and "no such file" in shell.stderr.lower()
