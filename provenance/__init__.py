"""The auditor: candidates -> verified matches with offsets -> results; and the ``provenance`` CLI."""

from provenance.audit import AuditOptions, Auditor
from provenance.errors import ExitCode, InputError, ProvenanceError
from provenance.ingest import AddEvent, AddSummary, add_document, add_sources
from provenance.inputs import InputFailure, InputOptions, ScanItem, read_inputs
from provenance.match import Match
from provenance.version import __version__

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
