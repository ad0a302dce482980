"""Refusals live in validators only. A validator runs just before its handler, in the same step
and on the same state, and never on replay; so a rule made stricter in a validator changes no
recorded history. A handler that refused by itself (or re-ran its validator) would make the
stricter rule apply on replay too and break the histories recorded under the old one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "workflows" / "application"


def _update_handlers() -> list[tuple[str, ast.AsyncFunctionDef | ast.FunctionDef]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr == "update":
                    found.append((f"{path.relative_to(ROOT)}:{node.name}", node))
    return found


def test_every_update_handler_of_the_application_is_found() -> None:
    assert len(_update_handlers()) == 17


def test_no_update_handler_refuses_by_itself() -> None:
    refusing = []
    for where, handler in _update_handlers():
        for node in ast.walk(handler):
            if isinstance(node, ast.Raise):
                refusing.append(f"{where} raises at line {node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr.startswith(("_check", "_validate")):
                refusing.append(f"{where} calls {node.attr} at line {node.lineno}")
    assert not refusing, "refusals belong in the validators: " + "; ".join(refusing)


def test_every_update_handler_has_a_validator() -> None:
    source = "\n".join(p.read_text() for p in sorted(PACKAGE.rglob("*.py")))
    missing = [where for where, handler in _update_handlers() if f"@{handler.name}.validator" not in source]
    assert not missing, f"update handlers without a validator: {missing}"
