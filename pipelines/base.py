"""A pipeline: an ordered list of typed stages, validated when loaded, versioned by content.

The definition a candidate started under travels in the workflow input as a snapshot (plain JSON)
with its sha256 version, so editing a pipeline never changes a running application.
"""

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.people import Person, Pool
from pipelines.stages import (
    STAGE_TYPES,
    CheckIn,
    Interview,
    Invite,
    Question,
    Stage,
)
from pipelines.validation import Validator


class PipelineError(ValueError):
    """A pipeline that cannot run. The message names the pipeline, the stage and what to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str


@dataclass(frozen=True)
class Pipeline:
    name: str
    title: str
    stages: tuple[Stage, ...]
    check_in: CheckIn | None = None
    contact: str | None = None  # staff id of the candidate's named contact person
    faq: tuple[FaqEntry, ...] = field(default_factory=tuple)
    # Days the content is kept after the application closes; None: the RETENTION_DAYS setting.
    retention_days: int | None = None

    # ------------------------------------------------------------------------------- lookups

    def first(self, kind: type) -> Any:
        return next((s for s in self.stages if isinstance(s, kind)), None)

    @property
    def invite(self) -> Invite:
        stage = self.first(Invite)
        assert stage is not None, f"pipeline '{self.name}' has no invite stage"
        return typing.cast(Invite, stage)

    def interview_questions(self) -> list[Question]:
        return [q for s in self.stages if isinstance(s, Interview) for q in s.questions]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.interview_questions() if q.id == question_id), None)

    # ------------------------------------------------------------------------------- identity

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "check_in": dataclasses.asdict(self.check_in) if self.check_in else None,
            "contact": self.contact,
            "faq": [dataclasses.asdict(f) for f in self.faq],
            "stages": [{"kind": s.kind, **dataclasses.asdict(s)} for s in self.stages],
            # Only when set, so that the versions of pipelines without one stay what they were.
            **({"retention_days": self.retention_days} if self.retention_days is not None else {}),
        }

    @property
    def version(self) -> str:
        """sha256 of the canonical JSON of the definition: changes whenever anything in it changes."""
        canonical = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    # ------------------------------------------------------------------------------- validation

    def validate(
        self,
        people: Mapping[str, Person] | None = None,
        pools: Mapping[str, Pool] | None = None,
        custom_activities: Collection[str] | None = None,
        templates_dir: Path | None = None,
        custom_workflows: Collection[str] | None = None,
    ) -> "Pipeline":
        """Raise PipelineError listing every problem, each naming the pipeline and stage."""
        problems = Validator(self, people, pools, custom_activities, templates_dir, custom_workflows).run()
        if problems:
            raise PipelineError(problems)
        return self


def _from_json(hint: Any, value: Any) -> Any:
    """Rebuild a value of the annotated type from its JSON form (dataclasses, tuples, optionals)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            return _from_json(options[0], value)
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind is not None:
            return _build(STAGE_TYPES[kind], value)
        return value
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        return tuple(_from_json(a, v) for a, v in zip(args, value, strict=True))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value)
    return value


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: _from_json(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)
        if f.init and f.name in data
    }
    return cls(**kwargs)


def pipeline_from_snapshot(data: dict[str, Any]) -> Pipeline:
    """The definition an application started under, rebuilt from the snapshot stored with it."""
    return Pipeline(
        name=data["name"],
        title=data["title"],
        stages=tuple(_build(STAGE_TYPES[s["kind"]], s) for s in data["stages"]),
        check_in=_build(CheckIn, data["check_in"]) if data.get("check_in") else None,
        contact=data.get("contact"),
        faq=tuple(FaqEntry(**f) for f in data.get("faq", ())),
        retention_days=data.get("retention_days"),
    )
