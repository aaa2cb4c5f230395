"""Schema validation of everything we emit: CRD objects, core kinds and Helm values.

Schema files are read from a root directory (see ``sources``); nothing is vendored.
"""

from forge_dev.schemas.apiserver import crd_for_xrd
from forge_dev.schemas.helm import HelmCharts, coalesce_tables
from forge_dev.schemas.sources import SchemaSourceError, resolve_schema_root
from forge_dev.schemas.store import KindSchema, SchemaStore, SchemaValidationError
from forge_dev.schemas.structural import CelRule, validate_resource, validate_value

__all__ = [
    "CelRule",
    "HelmCharts",
    "KindSchema",
    "SchemaSourceError",
    "SchemaStore",
    "SchemaValidationError",
    "coalesce_tables",
    "crd_for_xrd",
    "resolve_schema_root",
    "validate_resource",
    "validate_value",
]
