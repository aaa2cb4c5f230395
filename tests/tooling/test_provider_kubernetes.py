"""The real provider-kubernetes as a Provider xpkg: the module's package, our image.

Needs the program (``make kube-tools``), the crossplane CLI (``make tools``), Go's module
proxy (or cache) and, once, the Debian archive (the CA certificates).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import yaml

from forge_dev import tools
from forge_dev.packaging import PackagingError, image, provider_kubernetes

pytestmark = [
    pytest.mark.runtime_image,
    pytest.mark.skipif(
        not tools.available(tools.CLI, tools.PROVIDER_KUBERNETES) and not os.environ.get("CI"),
        reason="provider-kubernetes or the crossplane CLI is not built: make tools kube-tools",
    ),
]


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> list[provider_kubernetes.BuiltProvider]:
    binary, cli = tools.tool(tools.PROVIDER_KUBERNETES), tools.tool(tools.CLI)
    return [
        provider_kubernetes.build(binary, cli, tmp_path_factory.mktemp(f"b{n}")) for n in (1, 2)
    ]


def blobs(xpkg: Path) -> tuple[dict, list[bytes]]:
    """An xpkg's image config and its layers, in order."""
    with tarfile.open(xpkg) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())[0]
        config = json.loads(tar.extractfile(manifest["Config"]).read())
        return config, [tar.extractfile(name).read() for name in manifest["Layers"]]


def layer_files(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return {m.name.removeprefix("./"): m for m in tar.getmembers()}


def package_documents(layers: list[bytes]) -> list[dict]:
    for layer in layers:
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            if "package.yaml" in tar.getnames():
                text = tar.extractfile("package.yaml").read().decode()
                return [d for d in yaml.safe_load_all(text) if d]
    raise AssertionError("no package.yaml layer")


def test_two_builds_give_the_same_xpkg(builds):
    first, second = builds
    assert first.version == "v1.2.1"
    assert first.image.digest == second.image.digest
    assert first.xpkg.read_bytes() == second.xpkg.read_bytes()


def test_the_xpkg_holds_the_modules_provider_and_crds(builds):
    built = builds[0]
    _, source = provider_kubernetes.module()
    docs = package_documents(blobs(built.xpkg)[1])
    meta = yaml.safe_load((source / "package" / "crossplane.yaml").read_text())
    assert docs[0] == meta
    crds = sorted((source / "package" / "crds").glob("*.yaml"))
    assert len(crds) == 9
    shipped = {d["metadata"]["name"]: d for d in docs[1:]}
    assert {d["kind"] for d in docs[1:]} == {"CustomResourceDefinition"}
    for crd in crds:  # the CLI re-serializes a CRD (empty status, defaults): its API is kept
        upstream = yaml.safe_load(crd.read_text())
        ours = shipped.pop(upstream["metadata"]["name"])
        for field in ("group", "names", "scope", "versions"):
            assert ours["spec"][field] == upstream["spec"][field]
    assert not shipped


def test_the_xpkg_embeds_the_image_we_built(builds):
    built = builds[0]
    config, layers = blobs(built.xpkg)
    with tarfile.open(built.image.tarball) as tar:
        own = json.loads(tar.extractfile("manifest.json").read())[0]
        image_config = tar.extractfile(own["Config"]).read()
    assert built.image.digest == f"sha256:{image.hashlib.sha256(image_config).hexdigest()}"
    runtime_diff_id = json.loads(image_config)["rootfs"]["diff_ids"][0]
    assert config["rootfs"]["diff_ids"][0] == runtime_diff_id
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/crossplane-kubernetes-provider"]
    assert config["config"]["User"] == "65532:65532"
    files = layer_files(layers[0])
    program = files["usr/local/bin/crossplane-kubernetes-provider"]
    assert program.mode == 0o755
    assert program.size == tools.tool(tools.PROVIDER_KUBERNETES).stat().st_size
    with tarfile.open(fileobj=io.BytesIO(layers[0])) as tar:
        bundle = tar.extractfile(image.CA_BUNDLE).read()
    assert bundle.count(b"-----BEGIN CERTIFICATE-----") > 100
    executables = {n for n, m in files.items() if m.isfile() and m.mode & 0o111}
    assert executables == {"usr/local/bin/crossplane-kubernetes-provider"}  # no shell


def test_a_program_that_links_libraries_is_refused(tmp_path):
    dynamic = Path("/bin/sh").resolve()
    with pytest.raises(PackagingError, match="not a static ELF program"):
        image.build_static(
            dynamic,
            tmp_path / "x.tar",
            provider_kubernetes.PROGRAM,
            version="v0",
            arch="amd64",
            tag="x:v0",
        )
