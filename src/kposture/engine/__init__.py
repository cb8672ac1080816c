"""The engine: registers rules, applies the run policy and exceptions, and turns violations into findings.

Pure and thread-safe: no I/O, no clock reads (the scan date is passed in), no environment reads.
"""

from kposture.engine.evaluating import evaluate, evaluate_one
from kposture.engine.registry import Registry, RegistryError

__all__ = ["Registry", "RegistryError", "evaluate", "evaluate_one"]
