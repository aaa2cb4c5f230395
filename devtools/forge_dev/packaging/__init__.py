"""Crossplane packages: the Function xpkg and the Configuration xpkgs.

``python -m forge_dev.packaging`` builds the Function's runtime images without Docker
(``make image``: ``image``), assembles the packages' contents from ``package/``, ``xrds/``
and ``compositions/`` (``make packages``), builds the xpkgs with the crossplane CLI
(``make xpkg``) and pushes them (``make push``). Not imported by the function server.
"""


class PackagingError(Exception):
    """The sources cannot be assembled, checked, built or pushed; the message says why."""
