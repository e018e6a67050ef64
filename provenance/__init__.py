"""The auditor: candidates -> verified matches with offsets -> results; and the ``provenance`` CLI.

Names are imported when first used (PEP 562), so importing one light module of the package
(its errors, say) does not load the heavy ones: the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.audit import Auditor
    from provenance.errors import ExitCode, InputError, ProvenanceError
    from provenance.ingest import AddEvent, AddSummary, add_document, add_sources
    from provenance.inputs import InputFailure, InputOptions, ScanItem, read_inputs
    from provenance.match import Match
    from provenance.options import AuditOptions
    from provenance.version import __version__

# Each public name and the module that defines it.
_EXPORTS = {
    "AddEvent": "provenance.ingest",
    "AddSummary": "provenance.ingest",
    "AuditOptions": "provenance.options",
    "Auditor": "provenance.audit",
    "ExitCode": "provenance.errors",
    "InputError": "provenance.errors",
    "InputFailure": "provenance.inputs",
    "InputOptions": "provenance.inputs",
    "Match": "provenance.match",
    "ProvenanceError": "provenance.errors",
    "ScanItem": "provenance.inputs",
    "__version__": "provenance.version",
    "add_document": "provenance.ingest",
    "add_sources": "provenance.ingest",
    "read_inputs": "provenance.inputs",
}
__all__ = [
    "AddEvent",
    "AddSummary",
    "AuditOptions",
    "Auditor",
    "ExitCode",
    "InputError",
    "InputFailure",
    "InputOptions",
    "Match",
    "ProvenanceError",
    "ScanItem",
    "__version__",
    "add_document",
    "add_sources",
    "read_inputs",
]


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
