"""Pinned defaults: packages and charts this release installs unless a spec overrides them.

One table, so that a release bump is one reviewed diff.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge.xpkg import dependency_name

GROUP = "forge.projectcatalyst.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

FUNCTION_PACKAGE = "ghcr.io/input-output-hk/catalyst-forge/function-forge"
# Crossplane names a package it installs as a dependency after its repository path
# (xpkg.ToDNSLabel), so Compositions must call the Function by that name.
FUNCTION_NAME = dependency_name(FUNCTION_PACKAGE)
FUNCTION_VERSION = "v0.1.0"

PROVIDER_HELM = ("xpkg.crossplane.io/crossplane-contrib/provider-helm", "v1.4.0")
PROVIDER_KUBERNETES = ("xpkg.crossplane.io/crossplane-contrib/provider-kubernetes", "v1.2.1")
PROVIDER_AWS_REPOSITORY = "xpkg.upbound.io/upbound/provider-aws"
PROVIDER_AWS_VERSION = "v2.6.0"
# The AWS families' config package (the AWS ProviderConfigs). Each family provider depends
# on it at any version, so it is pinned with them, at the same version.
PROVIDER_AWS_FAMILY = PROVIDER_AWS_REPOSITORY.rsplit("/", 1)[0] + "/provider-family-aws"
# The Configurations depend on each provider at exactly these pins (a bare version is an
# exact constraint): Crossplane installs the newest version a range allows, and the
# stack, which installs the pins, would then lower it (docs/decisions/0020-*).


@dataclass(frozen=True)
class Chart:
    """A Helm chart at a pinned version."""

    name: str
    repository: str
    version: str


CROSSPLANE = Chart("crossplane", "https://charts.crossplane.io/stable", "2.3.4")
VCLUSTER = Chart("vcluster", "https://charts.loft.sh", "0.36.1")
# The Kubernetes a vCluster runs at that chart version (its controlPlane.distro.k8s.image.tag).
VCLUSTER_KUBERNETES = "v1.36.0"
EXTERNAL_DNS = Chart("external-dns", "https://kubernetes-sigs.github.io/external-dns/", "1.21.1")
EXTERNAL_SECRETS = Chart("external-secrets", "https://charts.external-secrets.io", "2.9.0")
CERT_MANAGER = Chart("cert-manager", "https://charts.jetstack.io", "v1.21.1")
ISTIO_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
ISTIO_VERSION = "1.30.3"
# Istio does not ship the Gateway API CRDs; Istio 1.30 reads them at v1.5 or newer.
GATEWAY_API_VERSION = "v1.5.1"
GATEWAY_API_MINIMUM = (1, 5)
# Charts we build and publish ourselves (python -m forge_dev.packaging chart; make push).
CHARTS_REPOSITORY = "oci://" + FUNCTION_PACKAGE.rsplit("/", 1)[0] + "/charts"
# The Gateway API CRDs as Helm charts, one per channel (forge_dev.packaging.charts says why),
# at the Gateway API release without its "v".
GATEWAY_API_CRDS = {
    channel: Chart(
        "gateway-api-crds" + ("" if channel == "standard" else f"-{channel}"),
        CHARTS_REPOSITORY,
        GATEWAY_API_VERSION.removeprefix("v"),
    )
    for channel in ("standard", "experimental")
}
KEDA = Chart("keda", "https://kedacore.github.io/charts", "2.20.2")
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3"
)
# kube-prometheus-stack's CRDs as templates (so that an upgrade upgrades them): the
# release whose Prometheus Operator (appVersion) is the stack's, v0.93.1.
PROMETHEUS_OPERATOR_CRDS = Chart(
    "prometheus-operator-crds", "https://prometheus-community.github.io/helm-charts", "31.0.1"
)
K8S_MONITORING = Chart("k8s-monitoring", "https://grafana.github.io/helm-charts", "4.4.0")
# Installed into every EKS Cluster (kube-system): NLBs for LoadBalancer Services, ALBs for
# Ingresses. Its chart ships no values schema.
AWS_LOAD_BALANCER_CONTROLLER = Chart(
    "aws-load-balancer-controller", "https://aws.github.io/eks-charts", "3.5.0"
)
# Installed into every EKS Cluster (kube-system): scales each node group between its
# minSize and maxSize. Its chart ships no values schema. The chart's image is one
# Kubernetes minor; CLUSTER_AUTOSCALER_IMAGES gives the image for the minor a cluster runs
# (cluster-autoscaler releases one minor per Kubernetes minor, and supports only that one).
CLUSTER_AUTOSCALER = Chart(
    "cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "9.59.0"
)
CLUSTER_AUTOSCALER_IMAGES: dict[str, str] = {
    "1.31": "v1.31.5",
    "1.32": "v1.32.7",
    "1.33": "v1.33.6",
    "1.34": "v1.34.5",
    "1.35": "v1.35.2",
    # kubernetes/autoscaler#10280: v1.36.1 is the cluster-autoscaler-release-1.36 release.
    "1.36": "v1.36.1",
}

# EKS managed add-on versions for each Kubernetes minor a Cluster may run. EKS picks an
# add-on's version once, at creation, and never moves it; these pins move each add-on
# with the version the control plane runs. Before a bump, check each against
# `aws eks describe-addon-versions --kubernetes-version <minor> --addon-name <name>`.
EKS_ADDONS: dict[str, dict[str, str]] = {
    "1.31": {
        "vpc-cni": "v1.19.0-eksbuild.1",
        "kube-proxy": "v1.31.2-eksbuild.3",
        "coredns": "v1.11.3-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.4-eksbuild.1",
        "aws-ebs-csi-driver": "v1.37.0-eksbuild.1",
    },
    "1.32": {
        "vpc-cni": "v1.19.2-eksbuild.1",
        "kube-proxy": "v1.32.0-eksbuild.2",
        "coredns": "v1.11.4-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.4-eksbuild.1",
        "aws-ebs-csi-driver": "v1.41.0-eksbuild.1",
    },
    "1.33": {
        "vpc-cni": "v1.19.6-eksbuild.1",
        "kube-proxy": "v1.33.0-eksbuild.2",
        "coredns": "v1.12.1-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.7-eksbuild.2",
        "aws-ebs-csi-driver": "v1.44.0-eksbuild.1",
    },
    "1.34": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "kube-proxy": "v1.34.0-eksbuild.2",
        "coredns": "v1.12.3-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "aws-ebs-csi-driver": "v1.54.0-eksbuild.1",
    },
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.3",
        "kube-proxy": "v1.35.0-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
    },
    # Not read from describe-addon-versions (no AWS account here): builds that public EKS
    # 1.36 configurations pin together and that a 1.36 cluster was seen running. Builds
    # seen that early, not the newest, so that every region offers them; check them.
    "1.36": {
        "vpc-cni": "v1.22.4-eksbuild.3",
        "kube-proxy": "v1.36.0-eksbuild.14",
        "coredns": "v1.14.3-eksbuild.3",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
        "aws-ebs-csi-driver": "v1.63.1-eksbuild.1",
    },
}
