"""Deterministic, length-safe names.

A composed resource's name must never change between releases: renaming it
deletes and recreates real infrastructure. Names are readable when they fit and
fall back to a truncated prefix plus a hash of the full name when they do not.

That shortened form, ``<prefix>-<8 hex digits>``, is reserved: an XR name may not end
in it (``identity.name``), or a Cluster named ``<prefix>-<hash>`` would get, literally,
the namespace another Cluster's long name was shortened to.
"""

from __future__ import annotations

import hashlib
import re

from forge.core.cache import cached_by_bytes

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
HELM_RELEASE_MAX = 53
_HASH_LEN = 8
_INVALID = re.compile(r"[^a-z0-9-]+")
_SHORTENED = re.compile(rf"-[0-9a-f]{{{_HASH_LEN}}}$")
CACHE_BYTES = 1024 * 1024  # some 3,000 names: every name of dozens of XRs


@cached_by_bytes(CACHE_BYTES)  # pure, and the same names come back on every call
def name(*parts: str, max_len: int = DNS_LABEL_MAX) -> str:
    """Join parts into a DNS-1123 label of at most ``max_len`` characters."""
    full = "-".join(p for p in parts if p)
    cleaned = _INVALID.sub("-", full.lower()).strip("-")
    if len(cleaned) <= max_len and cleaned == full:
        return cleaned
    digest = hashlib.sha256(full.encode()).hexdigest()[:_HASH_LEN]
    prefix = cleaned[: max_len - _HASH_LEN - 1].rstrip("-")
    return f"{prefix}-{digest}" if prefix else digest


def looks_shortened(text: str) -> bool:
    """Whether ``text`` ends as a shortened name does: ``-`` and 8 hex digits."""
    return _SHORTENED.search(text) is not None


def helm_release(*parts: str) -> str:
    """A Helm release name (Helm caps them at 53 characters)."""
    return name(*parts, max_len=HELM_RELEASE_MAX)
