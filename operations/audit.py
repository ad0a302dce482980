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
from temporalio.converter import DataConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from offhours.codec import EncryptionCodec, codec_for, data_converter, decode_history, has_encrypted_payloads
from offhours.settings import Settings, get_settings
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


async def export(client: Client, workflow_id: str, *, decode: bool = True) -> dict[str, Any]:
    """The full history as JSON (the format of `temporal workflow show -o json`), its payloads
    decrypted with the client's codec: readable by an auditor, and replayable without keys. (It
    holds no personal content: that travels by reference.) `decode=False`: as Temporal stores it,
    encrypted (what the archive keeps)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    exported: dict[str, Any] = history.to_json_dict()
    codec = client.data_converter.payload_codec
    if decode and isinstance(codec, EncryptionCodec):
        exported = decode_history(exported, codec)
    return exported


def decrypted(history: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """The history with its encrypted payloads opened with the payload keys (`settings`, else the
    process's settings); a history without any is returned as it is."""
    if not has_encrypted_payloads(history):
        return history
    return decode_history(history, codec_for(settings or get_settings()))


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
        self,
        input: WorkflowInterceptorClassInput,  # noqa: ARG002 (the SDK's interface)
    ) -> type[WorkflowInboundInterceptor]:
        results = self.results

        class Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                result = await super().execute_workflow(input)
                results.append(result)
                return result

        return Inbound


async def replay(
    history_json: dict[str, Any] | str, workflow_id: str = "replayed", settings: Settings | None = None
) -> ReplayReport:
    """Replay a history with the current code; never raises for a history that does not replay.

    An encrypted history (raw from Temporal, or archived) is opened with the payload keys of
    `settings` (else the process's settings); the replayer uses the product's data converter."""
    loaded = json.loads(history_json) if isinstance(history_json, str) else history_json
    data = decrypted(loaded, settings)
    history = WorkflowHistory.from_json(workflow_id, data)
    started = data["events"][0].get("workflowExecutionStartedEventAttributes", {})
    capture = _Capture()
    replayer = Replayer(
        workflows=WORKFLOWS,
        interceptors=[capture],
        workflow_runner=UnsandboxedWorkflowRunner(),
        # The history is decrypted already (plain payloads pass through the codec unchanged).
        data_converter=data_converter(settings) if settings is not None else DataConverter.default,
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


# ------------------------------------------------------------------------------------ timeline


def _payload(container: dict[str, Any] | None) -> Any:
    payloads = (container or {}).get("payloads") or []
    if not payloads:
        return None
    try:
        return json.loads(base64.b64decode(payloads[0]["data"]))
    except (ValueError, KeyError, TypeError):
        return None


def _update_line(name: str, arg: Any) -> tuple[str, str | None]:
    """What an accepted update means, and who did it (when the history says)."""
    a = arg if isinstance(arg, dict) else {}
    lines = {
        "give_consent": ("Consented to recording", "candidate"),
        "open_question": (f"Opened question {a.get('question_id')}", "candidate"),
        "save_answer": (f"Answer saved to {a.get('question_id')} ({a.get('kind')})", "candidate"),
        "submit": ("Submitted the answers", "candidate"),
        "request_extension": (f"Asked for {int(a.get('seconds', 0)) // 3600} h more", "candidate"),
        "start_assessment": ("Started the assessment", "candidate"),
        "save_assessment_answer": (f"Assessment answer to {a.get('question_id')}", "candidate"),
        "submit_assessment": ("Submitted the assessment", "candidate"),
        "pick_slot": (f"Picked the slot {a.get('slot')}", "candidate"),
        "complete_module": (f"Completed module {a.get('module_id')}", "candidate"),
        "submit_scorecard": (
            f"Scorecard for {a.get('reviewer') or 'the open review'}: {a.get('overall_recommendation')} "
            f"{a.get('ratings')}",
            a.get("submitted_by"),
        ),
        "decide": (
            f"Decision: {a.get('decision')} ({a.get('reason_code') or 'no reason code'})"
            + (f", vote of {a['approver']}" if a.get("approver") else ""),
            a.get("decided_by"),
        ),
        "decide_extension": (
            "Extension " + ("granted" if a.get("grant") else "refused"),
            a.get("decided_by"),
        ),
        "extend_deadline": (
            f"Deadline extended by {int(a.get('seconds', 0)) // 3600} h",
            a.get("decided_by"),
        ),
        "offer_slots": (f"Offered {len(a.get('slots') or [])} slot(s)", a.get("offered_by")),
        "release_feedback": (
            "Feedback released" + (" (edited)" if a.get("text") else ""),
            a.get("released_by"),
        ),
        "withdraw": ("Withdrawn", a.get("requested_by")),
    }
    return lines.get(name, (f"Update {name}", None))


def timeline(history: dict[str, Any], settings: Settings | None = None) -> list[dict[str, Any]]:
    """The business timeline of an application, derived from its Temporal history alone (an
    encrypted one is opened first, as `replay` does)."""
    history = decrypted(history, settings)
    entries: list[dict[str, Any]] = []

    def add(event: dict[str, Any], what: str, by: str | None = None) -> None:
        entries.append(
            {"event_id": int(event["eventId"]), "at": event.get("eventTime"), "what": what, "by": by}
        )

    for event in history.get("events", []):
        if (started := event.get("workflowExecutionStartedEventAttributes")) is not None:
            given = _payload(started.get("input")) or {}
            pipeline = given.get("pipeline", {}) if isinstance(given, dict) else {}
            version = str(given.get("pipeline_version", ""))[:12] if isinstance(given, dict) else ""
            add(event, f"Application started on pipeline {pipeline.get('name', '?')} (version {version})")
        elif (accepted := event.get("workflowExecutionUpdateAcceptedEventAttributes")) is not None:
            request = accepted.get("acceptedRequest", {}).get("input", {})
            what, by = _update_line(request.get("name", "?"), _payload(request.get("args")))
            add(event, what, by)
        elif (signaled := event.get("workflowExecutionSignaledEventAttributes")) is not None:
            name = signaled.get("signalName", "")
            add(event, "Candidate opened the link" if name == "link_opened" else f"Signal {name}")
        elif (scheduled := event.get("activityTaskScheduledEventAttributes")) is not None:
            kind = scheduled.get("activityType", {}).get("name", "")
            given = _payload(scheduled.get("input")) or {}
            if kind == "send_email" and isinstance(given, dict):
                who = f" to {given['to_staff']}" if given.get("to_staff") else " to the candidate"
                add(event, f"Email '{given.get('template')}'{who}")
            elif kind == "record_status" and isinstance(given, dict):
                add(event, f"Status {given.get('status')} (stage {given.get('stage')})")
            elif kind == "assign_reviewers" and isinstance(given, dict):
                add(event, f"{given.get('count')} reviewer(s) assigned from pool {given.get('pool')}")
        elif (child := event.get("childWorkflowExecutionStartedEventAttributes")) is not None:
            add(
                event,
                f"{child.get('workflowType', {}).get('name')} started: {child.get('workflowExecution', {}).get('workflowId')}",
            )
        elif event.get("timerFiredEventAttributes") is not None:
            add(event, "A timer fired (reminder, deadline or SLA)")
        elif (completed := event.get("workflowExecutionCompletedEventAttributes")) is not None:
            outcome = _summary(_payload(completed.get("result"))) or {}
            add(event, f"Closed: {outcome.get('outcome') or outcome.get('status')}")
        elif event.get("workflowExecutionTerminatedEventAttributes") is not None:
            add(event, "Terminated by an operator")
    return entries
