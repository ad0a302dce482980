"""The application workflow, composed from one mixin per stage (see workflow.py)."""

from workflows.application.workflow import ApplicationWorkflow

__all__ = ["ApplicationWorkflow"]
