"""Deterministic workflow code: no I/O, clocks, randomness or database access in this package."""

from workflows.application import ApplicationWorkflow

WORKFLOWS = [ApplicationWorkflow]

__all__ = ["WORKFLOWS", "ApplicationWorkflow"]
