"""What the Configurations we publish depend on, and the names Crossplane gives them."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

KNOWN = {
    "xpkg.crossplane.io/crossplane-contrib/provider-helm": "crossplane-contrib-provider-helm",
    "xpkg.crossplane.io/crossplane-contrib/provider-kubernetes": (
        "crossplane-contrib-provider-kubernetes"
    ),
    "xpkg.upbound.io/upbound/provider-family-aws": "upbound-provider-family-aws",
    "xpkg.upbound.io/upbound/provider-aws-cloudwatchlogs": "upbound-provider-aws-cloudwatchlogs",
    "xpkg.upbound.io/upbound/provider-aws-ec2": "upbound-provider-aws-ec2",
    "xpkg.upbound.io/upbound/provider-aws-eks": "upbound-provider-aws-eks",
    "xpkg.upbound.io/upbound/provider-aws-iam": "upbound-provider-aws-iam",
    "ghcr.io/input-output-hk/catalyst-forge/function-forge": (
        "input-output-hk-catalyst-forge-function-forge"
    ),
}


def dependencies() -> list[tuple[str, str]]:
    """(kind, repository) of every dependency of every Configuration we publish."""
    deps = []
    for meta in sorted((ROOT / "package").glob("configuration-*/crossplane.yaml")):
        doc = yaml.safe_load(meta.read_text(encoding="utf-8"))
        deps += [(dep["kind"], dep["package"]) for dep in doc["spec"]["dependsOn"]]
    return deps
