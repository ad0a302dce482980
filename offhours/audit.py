"""Auditing an application from its Temporal history: export it as `temporal workflow show -o json`
writes it, and replay it against the current workflow code, reporting where it diverges (if it does)
and the outcome the code reconstructs next to the one the history recorded."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workflows import WORKFLOWS


@dataclass
class ReplayReport:
    workflow_id: str
    workflow_type: str
    deterministic: bool
    error: str | None
    diverged_at_event: int | None
    recorded_outcome: dict[str, Any] | None
    replayed_outcome: dict[str, Any] | None

    @property
    def outcomes_match(self) -> bool:
        return self.deterministic and self.recorded_outcome == self.replayed_outcome


async def export(client: Client, workflow_id: str) -> dict[str, Any]:
    """The full history as JSON (the format of `temporal workflow show -o json`)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    exported: dict[str, Any] = history.to_json_dict()
    return exported


def _summary(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    keys = ("status", "outcome", "decision", "combined_score", "stage")
    return {k: value.get(k) for k in keys if k in value}


def recorded_outcome(history: dict[str, Any]) -> dict[str, Any] | None:
    """What the history says the workflow returned (its completion event's result)."""
    for event in reversed(history.get("events", [])):
        attributes = event.get("workflowExecutionCompletedEventAttributes")
        if attributes is None:
            continue
        payloads = attributes.get("result", {}).get("payloads", [])
        if not payloads:
            return None
        return _summary(json.loads(base64.b64decode(payloads[0]["data"])))
    return None


def _diverged_at(history: dict[str, Any], error: str) -> int | None:
    """The event a nondeterminism error is about. The SDK's message names what the history holds
    ('scheduled event 'X' ...'); the first event carrying that name is where replay parted ways."""
    found = re.search(r"event(?:[ _]?id)?[ :=#]*(\d+)", error, re.IGNORECASE)
    if found:
        return int(found[1])
    for name in re.findall(r"'([^']+)'", error):
        for event in history.get("events", []):
            if f'"{name}"' in json.dumps(event):
                return int(event["eventId"])
    return None


class _Capture(Interceptor):
    """Keeps what the workflow code returns while it is replayed."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        results = self.results

        class Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                result = await super().execute_workflow(input)
                results.append(result)
                return result

        return Inbound


async def replay(history_json: dict[str, Any] | str, workflow_id: str = "replayed") -> ReplayReport:
    """Replay a history with the current code; never raises for a history that does not replay."""
    data = json.loads(history_json) if isinstance(history_json, str) else history_json
    history = WorkflowHistory.from_json(workflow_id, data)
    started = data["events"][0].get("workflowExecutionStartedEventAttributes", {})
    capture = _Capture()
    replayer = Replayer(
        workflows=WORKFLOWS, interceptors=[capture], workflow_runner=UnsandboxedWorkflowRunner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    error = str(result.replay_failure) if result.replay_failure is not None else None
    diverged = _diverged_at(data, error) if error else None
    replayed = None
    if capture.results:
        value = capture.results[-1]
        plain = (
            dataclasses.asdict(value)
            if dataclasses.is_dataclass(value) and not isinstance(value, type)
            else value
        )
        replayed = _summary(json.loads(json.dumps(plain, default=str)))
    return ReplayReport(
        workflow_id=workflow_id,
        workflow_type=started.get("workflowType", {}).get("name", ""),
        deterministic=error is None,
        error=error,
        diverged_at_event=diverged,
        recorded_outcome=recorded_outcome(data),
        replayed_outcome=replayed if error is None else None,
    )
