"""The runtime image as ``make image`` builds it without Docker: contents, identity, digests.

Builds both architectures twice (Debian packages and wheels come from the network once,
then from ``.cache/image``). That it starts and serves is tests/conformance/
test_runtime_image.py's, under podman.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import PurePosixPath

import pytest

from forge_dev import tools
from forge_dev.packaging import image
from tests.support.packaging import ROOT

pytestmark = pytest.mark.runtime_image

VERSION = "0.0.0-test"
RELEASE = "v0.0.0-reproducible"  # make xpkg stamps a release version
ARCHES = list(image.ARCHES)
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "busybox", "rbash"}
PACKAGE_MANAGERS = {"dpkg", "apt", "apt-get", "pip", "pip3", "pip3.11", "ensurepip"}
TOOLING = {"forge_dev", "pytest", "hypothesis", "ruff", "pip", "setuptools", "wheel", "_pytest"}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> list[dict[str, image.BuiltImage]]:
    """Both architectures, built twice into two directories."""
    return [
        {b.arch: b for b in image.build(ROOT, tmp_path_factory.mktemp(f"b{n}"), VERSION, ARCHES)}
        for n in (1, 2)
    ]


def layer(built: image.BuiltImage) -> tarfile.TarFile:
    with tarfile.open(built.tarball) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())[0]
        data = outer.extractfile(manifest["Layers"][0]).read()
    return tarfile.open(fileobj=io.BytesIO(data))


def config(built: image.BuiltImage) -> dict:
    with tarfile.open(built.tarball) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())[0]
        return json.loads(outer.extractfile(manifest["Config"]).read())


@pytest.mark.parametrize("arch", ARCHES)
def test_two_builds_give_the_same_image(builds, arch):
    first, second = builds[0][arch], builds[1][arch]
    assert first.digest == second.digest
    assert first.tarball.read_bytes() == second.tarball.read_bytes()
    assert image.read(first.tarball) == image.BuiltImage(
        arch, first.tarball, first.digest, first.size
    )


def test_the_architectures_differ_and_say_so(builds):
    assert builds[0]["amd64"].digest != builds[0]["arm64"].digest
    assert config(builds[0]["amd64"])["architecture"] == "amd64"
    assert config(builds[0]["arm64"])["architecture"] == "arm64"
    assert config(builds[0]["arm64"])["variant"] == "v8"


@pytest.mark.parametrize("arch", ARCHES)
def test_the_image_holds_python_and_the_runtime_only(builds, arch):
    members = layer(builds[0][arch]).getmembers()
    names = {m.name for m in members}
    basenames = {PurePosixPath(n).name for n in names}
    assert not basenames & SHELLS, "no shell"
    assert not basenames & PACKAGE_MANAGERS, "no package manager"
    programs = {m.name for m in members if m.name.startswith(image.BIN_DIRS) and not m.isdir()}
    assert programs == {"usr/bin/python3.11"}
    site = [
        PurePosixPath(n).relative_to(image.SITE_PACKAGES)
        for n in names
        if n.startswith(image.SITE_PACKAGES + "/")
    ]
    tops = {p.parts[0] for p in site}
    assert "forge" in tops and "grpc" in tops and "pydantic_core" in tops
    assert not {t.split("-")[0] for t in tops} & TOOLING, "no tooling module"
    assert not [n for n in names if n.endswith(".pyc")], (
        "no bytecode (it would not be reproducible)"
    )
    dist_infos = {t for t in tops if t.endswith(".dist-info")}
    assert any(t.startswith("catalyst_forge_functions-") for t in dist_infos)
    # Every installed distribution is one the lock pins, or the runtime itself.
    pinned = {w.filename.split("-")[0].lower() for w in image.read_lock()[1][arch]}
    assert {t.split("-")[0].lower() for t in dist_infos} == pinned | {"catalyst_forge_functions"}


@pytest.mark.parametrize("arch", ARCHES)
def test_the_layer_is_owned_by_root_and_dated_by_source_date_epoch(builds, arch):
    members = layer(builds[0][arch]).getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {m.mtime for m in members} == {0}
    owners = {(m.uid, m.gid) for m in members if m.name != "home/nonroot"}
    assert owners == {(0, 0)}


@pytest.mark.parametrize("arch", ARCHES)
def test_the_image_runs_the_function_as_non_root(builds, arch):
    cfg = config(builds[0][arch])["config"]
    assert cfg["User"] == "65532:65532"
    assert cfg["Entrypoint"] == ["/usr/bin/python3.11", "-m", "forge.main"]
    assert cfg["ExposedPorts"] == {"9443/tcp": {}}
    assert cfg["Labels"]["org.opencontainers.image.version"] == VERSION
    passwd = layer(builds[0][arch]).extractfile("etc/passwd").read().decode()
    assert "nonroot:x:65532:65532:" in passwd


@pytest.mark.parametrize("arch", ARCHES)
def test_every_library_a_program_needs_is_in_the_image(builds, arch):
    tree = image.Tree()
    archive = layer(builds[0][arch])
    for member in archive.getmembers():
        handle = archive.extractfile(member) if member.isfile() else None
        tree.add(member, handle.read() if handle else None, "layer")
    assert image.unresolved_libraries(tree) == []
    python = tree.entries["usr/bin/python3.11"][1]
    assert "libc.so.6" in image.elf_needed(python)
    # Without libstdc++ (not a dependency of Python's packages) grpcio cannot load.
    for name in [n for n in tree.entries if PurePosixPath(n).name.startswith("libstdc++.so.6")]:
        del tree.entries[name]
    missing = image.unresolved_libraries(tree)
    assert missing and all(m.endswith(": libstdc++.so.6") for m in missing)
    assert any("grpc/_cython/cygrpc" in m for m in missing)


def test_the_lock_pins_every_input_by_sha256():
    debs, wheels = image.read_lock()
    assert set(debs) == set(wheels) == set(ARCHES)
    for arch in ARCHES:
        names = {d.name for d in debs[arch]}
        assert set(image.DEBIAN_ROOTS) <= names
        assert not names & image.DEBIAN_EXCLUDED
        assert all(
            len(d.sha256) == 64 and d.filename.endswith(f"_{d.arch}.deb") for d in debs[arch]
        )
        assert all(d.arch in (arch, "all") for d in debs[arch])
        assert all(len(w.sha256) == 64 for w in wheels[arch])
    constraints = {
        line.split("==")[0].lower().replace("-", "_").replace(".", "_"): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text().split()
    }
    for wheel in wheels["amd64"]:
        assert constraints[wheel.name.lower()] == wheel.version, wheel.filename


def test_a_deb_that_is_not_the_pinned_one_is_refused(tmp_path):
    deb = image.read_lock()[0]["amd64"][0]
    mirror = tmp_path / "mirror"
    (mirror / deb.filename).parent.mkdir(parents=True)
    (mirror / deb.filename).write_bytes(b"not the package")
    archives = {"debian": mirror.as_uri(), "security": mirror.as_uri()}
    with pytest.raises(image.PackagingError, match=f"the lock pins {deb.sha256}"):
        image.debian.fetch(deb, archives, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.deb"))


def make_xpkg() -> dict[str, bytes]:
    """``make xpkg`` with no docker on PATH: every file it writes to dist/, by name."""
    for stale in (ROOT / "dist").glob(f"*{RELEASE}*.xpkg"):
        stale.unlink()
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "xpkg", f"VERSION={RELEASE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "docker" not in result.stdout
    for arch in ARCHES:  # the digest and size of each image
        assert f"runtime-{arch}.tar: linux/{arch} sha256:" in result.stdout
        assert "MiB uncompressed" in result.stdout
    return {p.name: p.read_bytes() for p in (ROOT / "dist").glob(f"*{RELEASE}*.xpkg")}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_xpkg_builds_both_runtimes_into_the_function_twice_alike():
    if not tools.available(tools.CLI):
        message = f"the crossplane CLI is not built in {tools.tools_dir()}: run `make tools`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    first = make_xpkg()
    assert sorted(first) == sorted(
        [f"function-forge-{RELEASE}-{a}.xpkg" for a in ARCHES]
        + [f"configuration-clusters-{RELEASE}.xpkg", f"configuration-infrastructure-{RELEASE}.xpkg"]
    )
    for arch in ARCHES:  # the Function embeds its architecture's runtime layer
        runtime = image.read(ROOT / "build" / f"runtime-{arch}.tar")
        with tarfile.open(ROOT / "build" / f"runtime-{arch}.tar") as tar:
            runtime_config = json.loads(
                tar.extractfile(f"blobs/sha256/{runtime.digest[7:]}").read()
            )
        with tarfile.open(
            fileobj=io.BytesIO(first[f"function-forge-{RELEASE}-{arch}.xpkg"])
        ) as xpkg:
            manifest = json.loads(xpkg.extractfile("manifest.json").read())[0]
            config = json.loads(xpkg.extractfile(manifest["Config"]).read())
        assert config["architecture"] == arch
        assert config["config"]["User"] == "65532:65532"
        assert config["config"]["Entrypoint"] == list(image.ENTRYPOINT)
        assert runtime_config["rootfs"]["diff_ids"][0] in config["rootfs"]["diff_ids"]
    assert make_xpkg() == first, "a second build gives the same packages, byte for byte"


def test_debian_versions_are_ordered_as_dpkg_orders_them():
    ordered = [
        "1.0~rc1",
        "1.0",
        "1.0-1~deb12u1",
        "1.0-1~deb12u2",
        "1.0-1",
        "1.0a",
        "1.0.1",
        "1:0.1",
    ]
    keys = [image.debian._version_key(v) for v in ordered]
    assert keys == sorted(keys)
    assert len(set(map(repr, keys))) == len(keys)


def test_the_debian_archive_comes_from_apt_sources_in_either_format(tmp_path, monkeypatch):
    listed = tmp_path / "sources.list"
    listed.write_text("# old style\ndeb [arch=amd64] http://mirror.test/debian bookworm main\n")
    drop_ins = tmp_path / "sources.list.d"
    drop_ins.mkdir()
    (drop_ins / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.test/debian-security/\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://elsewhere.test/\nSuites: bookworm\n"
    )
    monkeypatch.setattr(image.debian, "SOURCES", (listed, drop_ins))
    monkeypatch.delenv("FORGE_DEBIAN_MIRROR", raising=False)
    monkeypatch.delenv("FORGE_DEBIAN_SECURITY_MIRROR", raising=False)
    assert image.debian.mirrors() == {
        "debian": "http://mirror.test/debian",
        "security": "http://security.test/debian-security",
    }
    monkeypatch.setenv("FORGE_DEBIAN_MIRROR", "http://override.test/debian/")
    assert image.debian.mirrors()["debian"] == "http://override.test/debian"
    (drop_ins / "debian.sources").unlink()
    with pytest.raises(image.PackagingError, match="no Debian bookworm archive for security"):
        image.debian.mirrors()
