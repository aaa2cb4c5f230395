"""The function's runtime image, built without Docker: ``build/runtime-<arch>.tar``.

One layer, written here byte for byte: Debian bookworm's Python 3.11 and the libraries it
links (pinned ``.deb`` files, SHA256 checked), the manylinux wheels of the runtime's
locked dependencies (``constraints.txt``; SHA256 pinned) and the runtime package's own
wheel, unpacked into ``/usr/lib/python3/dist-packages``. No shell, no package manager, no
pip: the only executable is ``/usr/bin/python3.11``, which runs ``-m forge.main`` as user
65532. Nothing is executed for the target architecture, so amd64 and arm64 build on any
machine without emulation. Entries are sorted, owned by root, dated ``SOURCE_DATE_EPOCH``
(default 0) and there are no ``.pyc`` files, so two builds give the same bytes and digest.

``build_static`` writes the image of a static Go program (the real provider-kubernetes that
e2e-local installs) the same way: the program, Debian's CA certificates as one bundle
(``ca-certificates``, pinned in the lock's ``static``), the user 65532; nothing else.

The output is a ``docker save`` tarball, which ``crossplane xpkg build
--embed-runtime-image-tarball`` embeds and ``podman load`` loads. ``image.lock.json``
beside this file pins every input; ``lock`` rewrites it (``make image-lock``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from forge_dev.packaging import PackagingError, debian
from forge_dev.packaging.commands import runtime_tarball

LOCK = Path(__file__).with_name("image.lock.json")
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}  # Debian's name: the wheels' machine name
PYTHON_VERSION = "3.11"
# bookworm's glibc is 2.36: a manylinux wheel for any glibc from 2.17 (manylinux2014) up to
# that runs; pip takes each tag as given, so every one is named.
GLIBC_MINORS = range(36, 16, -1)
# The interpreter and its standard library; grpcio's extension links libstdc++ (the build
# checks that every ELF file's DT_NEEDED libraries are in the image).
DEBIAN_ROOTS = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6")
# Tools that Debian's dependencies name but the runtime never runs (dpkg's own unpacking).
DEBIAN_EXCLUDED = frozenset({"dpkg", "tar"})
SITE_PACKAGES = "usr/lib/python3/dist-packages"  # on Debian's python3.11 sys.path
PYTHON = "/usr/bin/python3.11"
USER = 65532
PORT = 9443
ENTRYPOINT = (PYTHON, "-m", "forge.main")
ENV = (
    "PATH=/usr/bin",
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
    "LANG=C.UTF-8",
)
# What Debian packages install that a running function has no use for.
DROPPED_DIRS = ("usr/share/man/", "usr/share/info/", "usr/share/lintian/", "usr/share/locale/")
BIN_DIRS = ("bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/libexec/")
DIR_MODE = 0o755
# A static program's image: Debian's CA certificates (the only package; its maintainer
# scripts' tools are not followed) bundled where Go's crypto/x509 looks first.
STATIC_DEBIAN_ROOTS = ("ca-certificates",)
STATIC_DEBIAN_EXCLUDED = frozenset({"openssl", "debconf"})
CA_CERTS = "usr/share/ca-certificates/mozilla/"
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel of a runtime dependency."""

    name: str
    version: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class BuiltImage:
    """A built runtime image: its ``docker save`` tarball and identity."""

    arch: str
    tarball: Path
    digest: str  # sha256 of the image config (the image ID)
    size: int  # bytes of the uncompressed layer


# --- the lock ---------------------------------------------------------------------------


def runtime_requirements(root: Path) -> list[str]:
    """The runtime's declared dependencies (pyproject.toml), as pip reads them."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(project["project"]["dependencies"])


def _pip_platform_args(arch: str) -> list[str]:
    return [
        "--only-binary=:all:",
        *(f"--platform=manylinux_2_{minor}_{ARCHES[arch]}" for minor in GLIBC_MINORS),
        f"--python-version={PYTHON_VERSION}",
        "--implementation=cp",
        f"--abi=cp{PYTHON_VERSION.replace('.', '')}",
    ]


def _pip(args: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(f"pip {args[0]} failed:\n{result.stdout}{result.stderr}")


def _wheel(path: Path) -> Wheel:
    name, version = path.name.split("-")[:2]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Wheel(name=name, version=version, filename=path.name, sha256=digest)


def lock(root: Path) -> dict[str, object]:
    """Resolve every input anew: the Debian closure and the wheels, for each architecture."""
    mirror = debian.mirrors()
    debs: dict[str, list[dict[str, object]]] = {}
    wheels: dict[str, list[dict[str, object]]] = {}
    for arch in ARCHES:
        resolved = debian.resolve(mirror, arch, list(DEBIAN_ROOTS), DEBIAN_EXCLUDED)
        debs[arch] = [asdict(d) for d in resolved]
        with tempfile.TemporaryDirectory() as tmp:
            _pip(
                [
                    "download",
                    "--quiet",
                    "--dest",
                    tmp,
                    *_pip_platform_args(arch),
                    "--constraint",
                    str(root / "constraints.txt"),
                    *runtime_requirements(root),
                ]
            )
            found = sorted((_wheel(p) for p in Path(tmp).glob("*.whl")), key=lambda w: w.name)
        wheels[arch] = [asdict(w) for w in found]
    static = debian.resolve(mirror, "amd64", list(STATIC_DEBIAN_ROOTS), STATIC_DEBIAN_EXCLUDED)
    locked = {
        "release": debian.RELEASE,
        "debian": debs,
        "wheels": wheels,
        "static": [asdict(d) for d in static],
    }
    text = json.dumps(locked, indent=1, sort_keys=True) + "\n"
    LOCK.write_text(text, encoding="utf-8")
    return locked


def read_lock() -> tuple[dict[str, list[debian.Deb]], dict[str, list[Wheel]]]:
    """The pinned Debian packages and wheels of each architecture."""
    data = json.loads(LOCK.read_text(encoding="utf-8"))
    debs = {a: [debian.Deb(**d) for d in data["debian"][a]] for a in data["debian"]}
    wheels = {a: [Wheel(**w) for w in data["wheels"][a]] for a in data["wheels"]}
    return debs, wheels


def read_static_lock() -> list[debian.Deb]:
    """The pinned Debian packages of a static program's image (architecture ``all``)."""
    data = json.loads(LOCK.read_text(encoding="utf-8"))
    return [debian.Deb(**d) for d in data["static"]]


# --- inputs -----------------------------------------------------------------------------


def _fetch_debs(debs: list[debian.Deb], cache: Path) -> list[Path]:
    """The pinned ``.deb`` files, from the cache or the archive apt's sources name."""
    cold = [d for d in debs if not debian.cached(d, cache).is_file()]
    mirror = debian.mirrors() if cold else {}
    return [debian.fetch(d, mirror, cache) for d in debs]


def _fetch_wheels(wheels: list[Wheel], arch: str, cache: Path) -> list[Path]:
    """The pinned wheels, from the cache or pip (``--require-hashes``)."""
    dest = cache / "wheels" / arch
    paths = [dest / w.filename for w in wheels]
    pinned = {w.filename: w.sha256 for w in wheels}
    stale = [p for p in paths if not p.is_file() or _sha256(p.read_bytes()) != pinned[p.name]]
    if stale:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(
                "".join(f"{w.name}=={w.version} --hash=sha256:{w.sha256}\n" for w in wheels),
                encoding="utf-8",
            )
            _pip(
                [
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--require-hashes",
                    "--dest",
                    str(dest),
                    *_pip_platform_args(arch),
                    "-r",
                    str(requirements),
                ]
            )
    for path in paths:
        if not path.is_file() or _sha256(path.read_bytes()) != pinned[path.name]:
            raise PackagingError(f"{path.name}: not the wheel image.lock.json pins")
    return paths


def runtime_wheel(root: Path, out: Path) -> Path:
    """The runtime package's own wheel, built from a clean copy of its sources."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copy2(root / "pyproject.toml", src)
        shutil.copytree(
            root / "functions" / "forge",
            src / "functions" / "forge",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.whl"):
            old.unlink()
        _pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(src)])
    (wheel,) = out.glob("*.whl")
    return wheel


# --- the layer --------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Tree:
    """The image's files: path -> (TarInfo, content), every parent directory present."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}

    def add(self, info: tarfile.TarInfo, content: bytes | None, origin: str) -> None:
        name = str(PurePosixPath(info.name.removeprefix("./").lstrip("/") or "."))
        if name == "." or name.startswith("../"):
            return
        parent = PurePosixPath(name).parent
        if str(parent) != ".":
            self.directory(str(parent))
        previous = self.entries.get(name)
        if previous is not None:
            if previous[0].isdir() and info.isdir():
                return
            raise PackagingError(f"{origin}: {name} is installed twice")
        info.name = name
        self.entries[name] = (info, content)

    def directory(self, name: str, mode: int = DIR_MODE) -> None:
        if name in self.entries:
            return
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        self.add(info, None, "image")

    def file(self, name: str, content: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = mode
        self.add(info, content, "image")


def _kept(name: str) -> bool:
    """Whether a file a Debian package installs belongs in the image."""
    name = name.removeprefix("./")
    if name.startswith(BIN_DIRS):
        return name == PYTHON.lstrip("/")
    if name.startswith("usr/share/doc/"):
        return name.endswith("/copyright")  # licences stay; the rest of the docs go
    return not name.startswith(DROPPED_DIRS)


def _add_deb(tree: Tree, deb: Path) -> None:
    for info, content in debian.data_members(deb):
        if info.isdir() or not _kept(info.name):
            continue
        if not (info.isfile() or info.issym() or info.islnk()):
            raise PackagingError(f"{deb.name}: {info.name}: unexpected entry type")
        if info.islnk():  # hard links become copies: the link target may be dropped
            raise PackagingError(f"{deb.name}: {info.name}: hard link")
        tree.add(info, content, deb.name)


def _add_wheel(tree: Tree, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for item in archive.infolist():
            name = item.filename
            if item.is_dir() or "__pycache__/" in name or name.endswith(".pyc"):
                continue
            top, _, rest = name.partition("/")
            if top.endswith(".data"):
                kind, _, rest = rest.partition("/")
                if kind not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: nothing the server imports
                name = rest
            executable = (item.external_attr >> 16) & 0o111
            info = tarfile.TarInfo(f"{SITE_PACKAGES}/{name}")
            content = archive.read(item)
            info.size = len(content)
            info.mode = 0o755 if executable else 0o644
            tree.add(info, content, wheel.name)


def _add_system(tree: Tree) -> None:
    """The few files a non-root process expects: its user, its group, a /tmp."""
    tree.file(
        "etc/passwd",
        f"root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{USER}:{USER}:nonroot:/home/nonroot:/sbin/nologin\n".encode(),
    )
    tree.file("etc/group", f"root:x:0:\nnonroot:x:{USER}:\n".encode())
    tree.directory("tmp", 0o1777)
    tree.directory("home/nonroot", 0o700)


ELF_MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5


def elf_needed(content: bytes) -> list[str]:
    """The DT_NEEDED libraries of a 64-bit little-endian ELF file (both our arches)."""
    if content[:4] != ELF_MAGIC or content[4] != 2 or content[5] != 1:
        return []

    def word(offset: int, size: int = 8) -> int:
        return int.from_bytes(content[offset : offset + size], "little")

    phoff, phentsize, phnum = word(0x20), word(0x36, 2), word(0x38, 2)
    headers = [phoff + i * phentsize for i in range(phnum)]
    loads = [(word(h + 16), word(h + 8), word(h + 32)) for h in headers if word(h, 4) == PT_LOAD]
    dynamic = [word(h + 8) for h in headers if word(h, 4) == PT_DYNAMIC]
    if not dynamic:
        return []
    entries, offset = [], dynamic[0]
    while (tag := word(offset)) != DT_NULL:
        entries.append((tag, word(offset + 8)))
        offset += 16
    strtab = next(v for t, v in entries if t == DT_STRTAB)
    base = next(
        off + strtab - vaddr for vaddr, off, size in loads if vaddr <= strtab < vaddr + size
    )
    names = []
    for tag, value in entries:
        if tag == DT_NEEDED:
            end = content.index(b"\0", base + value)
            names.append(content[base + value : end].decode())
    return names


def unresolved_libraries(tree: Tree) -> list[str]:
    """``file: library`` for every DT_NEEDED library no file in the image is named."""
    files = {PurePosixPath(n).name for n, (i, _) in tree.entries.items() if not i.isdir()}
    missing = []
    for name, (_, content) in sorted(tree.entries.items()):
        if content is not None:
            missing += [f"{name}: {lib}" for lib in elf_needed(content) if lib not in files]
    return missing


def _layer(tree: Tree, epoch: int) -> bytes:
    """The tree as one uncompressed tar layer, entries sorted, owned by root (but /home)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(tree.entries):
            info, content = tree.entries[name]
            info.mtime = epoch
            info.uid = info.gid = USER if name == "home/nonroot" else 0
            info.uname = info.gname = ""
            info.pax_headers = {}
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Program:
    """What an image runs and says of itself (its OCI config)."""

    title: str
    description: str
    source: str
    entrypoint: tuple[str, ...]
    env: tuple[str, ...]
    ports: tuple[int, ...]


FUNCTION = Program(
    title="function-forge",
    description="Catalyst Forge composition function",
    source="https://github.com/input-output-hk/catalyst-forge",
    entrypoint=ENTRYPOINT,
    env=ENV,
    ports=(PORT,),
)


def _config(
    arch: str, diff_id: str, version: str, epoch: int, program: Program = FUNCTION
) -> dict[str, object]:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config: dict[str, object] = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {
            "User": f"{USER}:{USER}",
            "Entrypoint": list(program.entrypoint),
            "Env": list(program.env),
            "ExposedPorts": {f"{port}/tcp": {} for port in program.ports},
            "WorkingDir": "/",
            "Labels": {
                "org.opencontainers.image.title": program.title,
                "org.opencontainers.image.description": program.description,
                "org.opencontainers.image.source": program.source,
                "org.opencontainers.image.licenses": "Apache-2.0",
                "org.opencontainers.image.version": version,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "forge_dev.packaging.image"}],
    }
    if arch == "arm64":
        config["variant"] = "v8"
    return config


def _docker_save(layer: bytes, config: bytes, tag: str, epoch: int) -> bytes:
    """A ``docker save`` archive of one image: manifest.json, its config and its layer."""
    layer_path = f"blobs/sha256/{_sha256(layer)}"
    config_path = f"blobs/sha256/{_sha256(config)}"
    manifest = [{"Config": config_path, "RepoTags": [tag], "Layers": [layer_path]}]
    files = {layer_path: layer, config_path: config, "manifest.json": _json(manifest)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, DIR_MODE, epoch
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, epoch
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def image_tag(version: str, arch: str) -> str:
    """The name ``docker load`` and ``podman load`` give the image (podman prefixes localhost/)."""
    return f"function-forge-runtime:{version}-{arch}"


def build(root: Path, build_dir: Path, version: str, arches: Iterable[str]) -> list[BuiltImage]:
    """Build each architecture's image into ``build_dir`` from the lock's pinned inputs."""
    debs, wheels = read_lock()
    cache = root / ".cache" / "image"
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    own = runtime_wheel(root, build_dir / "wheel")
    built = []
    for arch in arches:
        if arch not in ARCHES:
            raise PackagingError(f"unknown architecture {arch!r} (known: {', '.join(ARCHES)})")
        tree = Tree()
        for deb in _fetch_debs(debs[arch], cache):
            _add_deb(tree, deb)
        for wheel in [*_fetch_wheels(wheels[arch], arch, cache), own]:
            _add_wheel(tree, wheel)
        _add_system(tree)
        missing = unresolved_libraries(tree)
        if missing:
            raise PackagingError(
                f"{arch}: libraries the image's programs need but lack (add their Debian "
                "package to DEBIAN_ROOTS and re-lock):\n  " + "\n  ".join(missing)
            )
        layer = _layer(tree, epoch)
        config = _json(_config(arch, f"sha256:{_sha256(layer)}", version, epoch))
        out = runtime_tarball(build_dir, arch)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(_docker_save(layer, config, image_tag(version, arch), epoch))
        built.append(BuiltImage(arch, out, f"sha256:{_sha256(config)}", len(layer)))
    return built


def _add_ca_bundle(tree: Tree, deb: Path) -> None:
    """Debian's CA certificates as ``update-ca-certificates`` bundles them (every Mozilla
    certificate, in name order), and the package's copyright file."""
    certs = []
    for info, content in debian.data_members(deb):
        name = info.name.removeprefix("./")
        if info.isfile() and name.startswith(CA_CERTS) and name.endswith(".crt"):
            certs.append((name, content or b""))
        elif info.isfile() and name.startswith("usr/share/doc/") and name.endswith("/copyright"):
            tree.file(name, content or b"")
    if not certs:
        raise PackagingError(f"{deb.name}: no certificates under /{CA_CERTS}")
    tree.file(CA_BUNDLE, b"".join(c if c.endswith(b"\n") else c + b"\n" for _, c in sorted(certs)))


def build_static(
    binary: Path, out: Path, program: Program, *, version: str, arch: str, tag: str
) -> BuiltImage:
    """The image of a static program: ``binary`` at ``program.entrypoint[0]``, the CA bundle,
    user 65532; no shell, no libraries (a program that links one is refused)."""
    if arch not in ARCHES:
        raise PackagingError(f"unknown architecture {arch!r} (known: {', '.join(ARCHES)})")
    content = binary.read_bytes()
    if elf_needed(content) or content[:4] != ELF_MAGIC:
        raise PackagingError(f"{binary}: not a static ELF program (build it with CGO off)")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    tree = Tree()
    tree.file(program.entrypoint[0].lstrip("/"), content, 0o755)
    for deb in _fetch_debs(read_static_lock(), root_cache()):
        _add_ca_bundle(tree, deb)
    _add_system(tree)
    layer = _layer(tree, epoch)
    config = _json(_config(arch, f"sha256:{_sha256(layer)}", version, epoch, program))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_docker_save(layer, config, tag, epoch))
    return BuiltImage(arch, out, f"sha256:{_sha256(config)}", len(layer))


def root_cache() -> Path:
    """Where pinned inputs are kept between builds (``.cache/image`` of this checkout)."""
    return Path(__file__).resolve().parents[3] / ".cache" / "image"


def read(path: Path) -> BuiltImage:
    """A built image's identity, from its tarball (for the tests and e2e-local)."""
    if not path.is_file():
        raise PackagingError(f"{path}: no runtime image (run `make image`)")
    with tarfile.open(path) as tar:
        manifest = json.loads(_member(tar, "manifest.json"))[0]
        config = _member(tar, manifest["Config"])
        layer = tar.getmember(manifest["Layers"][0])
    arch = json.loads(config)["architecture"]
    return BuiltImage(arch, path, f"sha256:{_sha256(config)}", layer.size)


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise PackagingError(f"{tar.name}: no {name}")
    return handle.read()
