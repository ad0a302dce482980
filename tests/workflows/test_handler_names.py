"""The names Temporal knows the workflows' handlers by are part of every recorded history and of
every running workflow: an update sent by name to a running application, a signal, a query. They
are pinned in the code (`name=` on each decorator, so a renamed method keeps its handler) and frozen
here; the audit timeline has words for every update."""

from __future__ import annotations

import ast
from pathlib import Path

from temporalio import workflow

from operations.audit import _update_line
from workflows import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]

FROZEN: dict[str, dict[str, list[str]]] = {
    "Application": {
        "updates": [
            "complete_module",
            "decide",
            "decide_extension",
            "extend_deadline",
            "give_consent",
            "offer_slots",
            "open_question",
            "pick_slot",
            "release_feedback",
            "request_extension",
            "save_answer",
            "save_assessment_answer",
            "start_assessment",
            "submit",
            "submit_assessment",
            "submit_scorecard",
            "withdraw",
        ],
        "signals": ["link_opened"],
        "queries": ["portal", "state"],
    },
    "ReviewTask": {"updates": [], "signals": ["cancel", "complete"], "queries": []},
    "ReferenceCheck": {"updates": ["record_outcome"], "signals": [], "queries": []},
    "Notice": {"updates": [], "signals": [], "queries": []},
    "Privacy": {"updates": [], "signals": ["closed", "erase", "hold"], "queries": ["status"]},
    "WebhookDelivery": {"updates": [], "signals": ["retry_now"], "queries": []},
}


def handlers(cls: type) -> tuple[str, dict[str, list[str]]]:
    definition = workflow._Definition.from_class(cls)
    assert definition is not None
    return str(definition.name), {
        "updates": sorted(n for n in definition.updates if n),
        "signals": sorted(n for n in definition.signals if n),
        "queries": sorted(n for n in definition.queries if n),
    }


def test_the_handler_names_are_the_frozen_ones() -> None:
    found = dict(handlers(cls) for cls in WORKFLOWS)
    assert found == FROZEN, (
        "a workflow handler was added, removed or renamed: running workflows and recorded histories "
        "know the old names. Add a new name (and keep the old one) rather than renaming."
    )


def test_every_handler_names_itself_in_the_code() -> None:
    """`@workflow.update(name="...")`, never the bare decorator that takes the method's name."""
    bare: list[str] = []
    for path in sorted((ROOT / "workflows").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if not (isinstance(target, ast.Attribute) and target.attr in ("update", "signal", "query")):
                    continue
                if not (isinstance(target.value, ast.Name) and target.value.id == "workflow"):
                    continue
                named = isinstance(decorator, ast.Call) and any(k.arg == "name" for k in decorator.keywords)
                if not named:
                    bare.append(f"{path.name}:{node.lineno} {node.name}")
    assert not bare, f"handlers without a pinned name: {bare}"


def test_the_audit_timeline_has_words_for_every_update() -> None:
    unnamed = [u for u in FROZEN["Application"]["updates"] if _update_line(u, {})[0] == f"Update {u}"]
    assert not unnamed, f"the audit timeline would say 'Update <name>' for {unnamed}"
