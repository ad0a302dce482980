"""Deterministic workflow code: no I/O, clocks, randomness or database access in this package."""

from workflows.application import ApplicationWorkflow
from workflows.review_task import ReviewTaskWorkflow

WORKFLOWS = [ApplicationWorkflow, ReviewTaskWorkflow]

__all__ = ["WORKFLOWS", "ApplicationWorkflow", "ReviewTaskWorkflow"]
