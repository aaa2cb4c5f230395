"""Stand-in provider packages: the real providers' CRDs, no controller.

Provider packages cannot be pulled here (no network beyond the package registries), so
each provider our Configurations depend on, but provider-kubernetes (its real package is
built from its Go module and runs: decision 0031), is built as a Provider xpkg of its own
with the real CRDs from ``../shared/crds`` (only the kinds our compositions compose, to
keep the API server light), by the real ``crossplane xpkg build``, and pushed to the local
registry under the provider's own repository path, at its pinned version and at a newer
one (``StandIn.tags``), as a real registry holds releases after ours. Crossplane then
resolves our Configurations' dependencies, installs the providers and establishes their
CRDs as it would from the real packages; the providers' controllers are what the
player plays. Each stand-in embeds the e2e node's pause image as its runtime image, so
the pod Crossplane's package runtime runs for it holds no controller. The AWS families
depend on a ``provider-family-aws`` stand-in that owns the AWS ProviderConfig kinds, as
the real family providers do.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from forge import versions
from forge_dev.e2e_local.kube import load_documents
from forge_dev.e2e_local.packages import Built, _run, cli
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.simulate import aws as preview


def aws_crd_file(crds_root: Path, api_version: str, kind: str) -> str:
    """The ``../shared/crds`` file that defines an AWS kind our compositions compose."""
    group = api_version.split("/", maxsplit=1)[0]
    for path in sorted((crds_root / "provider-upjet-aws").glob(f"{group}_*.yaml")):
        crd = load_documents(path)[0]
        if crd["spec"]["names"]["kind"] == kind:
            return f"provider-upjet-aws/{path.name}"
    raise HarnessError(f"no CRD of {kind}.{group} in {crds_root}/provider-upjet-aws")


@dataclass(frozen=True)
class StandIn:
    """One provider package: its repository, version, CRD files and dependencies."""

    repository: str
    version: str
    crds: tuple[str, ...]
    depends_on: tuple[tuple[str, str], ...] = ()
    capabilities: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[1]

    @property
    def tags(self) -> tuple[str, str]:
        """The pinned version and a newer release beside it in the mirror: Crossplane
        installs the newest version a dependency's constraint allows, so a constraint
        that allows more than the pin shows as the newer one installed."""
        return (self.version, newer(self.version))


def newer(version: str) -> str:
    """The next minor release after ``version`` (``v1.4.0`` -> ``v1.5.0``)."""
    major, minor, _ = version.removeprefix("v").split(".", 2)
    return f"v{major}.{int(minor) + 1}.0"


# The AWS family providers declare SafeStart (provider-upjet-aws package/crossplane.yaml.tmpl):
# Crossplane installs their kinds as inactive ManagedResourceDefinitions, which only an
# activation policy activates. The ec2 stand-in also carries a kind our compositions never
# compose, which must stay inactive.
AWS_CAPABILITIES = ("SafeStart",)
UNCOMPOSED = ("ec2", "provider-upjet-aws/ec2.aws.m.upbound.io_securitygroups.yaml")


def _files(provider: str, group: str, managed: str) -> tuple[str, ...]:
    """A provider's managed kind and its ProviderConfig kinds (namespaced API only)."""
    plurals = (managed, "providerconfigs", "clusterproviderconfigs", "providerconfigusages")
    return tuple(f"{provider}/{group}_{plural}.yaml" for plural in plurals)


def standins(crds_root: Path) -> list[StandIn]:
    """Every provider our Configurations depend on but provider-kubernetes (the real one
    runs: ``forge_dev.packaging.provider_kubernetes``), and the AWS family's config
    package."""
    helm = versions.PROVIDER_HELM
    aws = versions.PROVIDER_AWS_VERSION
    family = f"{versions.PROVIDER_AWS_REPOSITORY.rsplit('/', 1)[0]}/provider-family-aws"
    out = [
        StandIn(
            helm[0],
            helm[1],
            _files("provider-helm", "helm.m.crossplane.io", "releases"),
        ),
        StandIn(
            family,
            aws,
            (
                "provider-upjet-aws/aws.m.upbound.io_providerconfigs.yaml",
                "provider-upjet-aws/aws.m.upbound.io_clusterproviderconfigs.yaml",
            ),
        ),
    ]
    by_family: dict[str, list[str]] = {}
    for api_version, kind in preview.STATUS:
        group = api_version.split("/", maxsplit=1)[0]
        by_family.setdefault(group.split(".")[0], []).append(
            aws_crd_file(crds_root, api_version, kind)
        )
    by_family[UNCOMPOSED[0]].append(UNCOMPOSED[1])
    for name, files in sorted(by_family.items()):
        out.append(
            StandIn(
                f"{versions.PROVIDER_AWS_REPOSITORY}-{name}",
                aws,
                tuple(sorted(set(files))),
                ((family, f">={aws}"),),
                AWS_CAPABILITIES,
            )
        )
    return out


def build(workdir: Path, crds_root: Path, runtime_image: Path) -> list[tuple[StandIn, Built]]:
    """Each stand-in built into an xpkg by ``crossplane xpkg build``, embedding
    ``runtime_image`` (the pause image's ``docker save`` tarball)."""
    out: list[tuple[StandIn, Built]] = []
    for standin in standins(crds_root):
        root = workdir / "standins" / standin.name
        shutil.rmtree(root, ignore_errors=True)
        (root / "crds").mkdir(parents=True)
        meta = {
            "apiVersion": "meta.pkg.crossplane.io/v1",
            "kind": "Provider",
            "metadata": {
                "name": standin.name,
                "annotations": {
                    "meta.crossplane.io/description": (
                        "e2e-local stand-in: the real CRDs of the kinds we compose, no controller"
                    )
                },
            },
            "spec": {},
        }
        if standin.capabilities:
            meta["spec"]["capabilities"] = list(standin.capabilities)
        if standin.depends_on:
            meta["spec"]["dependsOn"] = [
                {
                    "apiVersion": "pkg.crossplane.io/v1",
                    "kind": "Provider",
                    "package": p,
                    "version": v,
                }
                for p, v in standin.depends_on
            ]
        (root / "crossplane.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        for rel in standin.crds:
            for doc in load_documents(crds_root / rel):
                name = doc["metadata"]["name"]
                (root / "crds" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        file = workdir / "standins" / f"{standin.name}-{standin.version}.xpkg"
        _run(
            [
                str(cli()),
                "xpkg",
                "build",
                f"--package-root={root}",
                f"--embed-runtime-image-tarball={runtime_image}",
                f"--package-file={file}",
            ],
            f"crossplane xpkg build of the {standin.name} stand-in",
        )
        repository = standin.repository.split("/", 1)[1]
        out.append((standin, Built(standin.name, "Provider", repository, file)))
    return out
