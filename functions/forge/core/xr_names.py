"""The observed XR's name and namespace, checked before anything reads them.

Crossplane's API server validated them, but the function answers whatever arrives
over gRPC: a name must be a Kubernetes name before it reaches a cache, a log line or
a composed resource, and a message quotes a value only once it is known to be a
short identifier (never raw input, which may be large or secret).
"""

from __future__ import annotations

import re

from google.protobuf import struct_pb2

from forge.core import naming
from forge.core.errors import SpecError
from forge.core.observed import field

# Every Cluster's platform namespace is cluster-<name> (composers.access.namespace_for);
# what a namespaced XR composes goes into its own namespace, so it may not live there.
CLUSTER_NAMESPACE_PREFIX = "cluster-"
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_API_VERSION = re.compile(rf"^({_LABEL}(\.{_LABEL})*/)?v[0-9]+[a-z0-9]*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_TAG = re.compile(r"^[A-Za-z0-9._:-]*$")


def quotable(value: object, pattern: re.Pattern[str], max_len: int) -> str | None:
    """``value`` if it is a string of at most ``max_len`` matching ``pattern``, else None."""
    if isinstance(value, str) and len(value) <= max_len and pattern.match(value):
        return value
    return None


def label(value: object) -> str | None:
    """``value`` if it is a namespace name (a DNS-1123 label), else None."""
    return quotable(value, _DNS_LABEL, DNS_LABEL_MAX)


def subdomain(value: object) -> str | None:
    """``value`` if it is a Kubernetes object name (a DNS-1123 subdomain), else None."""
    return quotable(value, _DNS_SUBDOMAIN, DNS_SUBDOMAIN_MAX)


def describe_kind(xr: struct_pb2.Struct) -> str:
    """The XR's apiVersion and kind for a message, each quoted only if it looks like one."""
    given = (
        (field(xr, "apiVersion"), _API_VERSION, DNS_SUBDOMAIN_MAX, "(invalid apiVersion)"),
        (field(xr, "kind"), _KIND, DNS_LABEL_MAX, "(invalid kind)"),
    )
    parts = [quotable(v, p, n) or bad for v, p, n, bad in given if v is not None]
    return " ".join(parts) or "(no observed composite resource)"


def tag(value: str) -> str:
    """Crossplane's request tag (a hash) for the log; anything else is left out."""
    return quotable(value, _TAG, 64) or ""


def name(xr: struct_pb2.Struct) -> str:
    """``metadata.name``: a DNS-1123 subdomain as Kubernetes requires of an XR, and not in
    the form reserved for shortened names (``naming``)."""
    value = field(xr, "metadata", "name")
    if not isinstance(value, str) or not value:
        raise SpecError("metadata.name", "is required, a string")
    if subdomain(value) is None:
        raise SpecError(
            "metadata.name",
            f"must be a DNS-1123 subdomain of at most {DNS_SUBDOMAIN_MAX} characters "
            "(lowercase letters, digits, '-' and '.')",
        )
    if naming.looks_shortened(value):
        raise SpecError(
            "metadata.name",
            "must not end in '-' and 8 hexadecimal digits (the form of shortened names)",
        )
    return value


def namespace(xr: struct_pb2.Struct, namespaced: bool) -> str | None:
    """``metadata.namespace`` of a namespaced XR (a DNS-1123 label, not a Cluster's platform
    namespace); None for the others."""
    if not namespaced:
        return None
    value = field(xr, "metadata", "namespace")
    if not isinstance(value, str) or not value:
        raise SpecError("metadata.namespace", "is required: this kind is namespaced")
    if label(value) is None:
        raise SpecError(
            "metadata.namespace", f"must be a DNS-1123 label of at most {DNS_LABEL_MAX} characters"
        )
    if value.startswith(CLUSTER_NAMESPACE_PREFIX):
        raise SpecError(
            "metadata.namespace",
            f"{value} is a Cluster's platform namespace (cluster-*), whose resources are that "
            "Cluster's: create this XR in another namespace",
        )
    return value
