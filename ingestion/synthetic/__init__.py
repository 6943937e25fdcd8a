"""Deterministic synthetic landing-zone generator (assessor, recorder, MLS and index feeds + planted truth)."""

from .cli import add_arguments, run_from_args
from .generator import Defects, GenerationSummary, generate

__all__ = ["Defects", "GenerationSummary", "add_arguments", "generate", "run_from_args"]
