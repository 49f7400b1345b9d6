"""Tool catalogs per organisation: built-ins plus the org's custom tools."""

from __future__ import annotations

from typing import Any

from agentbatch.domain.model_io import ToolSpec
from agentbatch.step.prepare import ToolCatalog
from agentbatch.tools.builtins import BUILTIN_SPECS


def catalog_for(org_id: str, customs: dict[str, dict[str, Any]]) -> ToolCatalog:
    specs: dict[str, ToolSpec] = dict(BUILTIN_SPECS)
    for name, row in customs.get(org_id, {}).items():
        specs[name] = ToolSpec(name, row.description, row.parameters)
    return ToolCatalog(specs)
