"""Pipelines defined in pipelines/: list, show, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tools.cli.common import (
    console,
    errors,
    pipelines_app,
)


@pipelines_app.command("list")
def pipelines_list() -> None:
    """List the pipelines with their version hash and stages."""
    from pipelines.registry import PIPELINES

    table = Table("name", "title", "version", "stages")
    for pipeline in PIPELINES.values():
        table.add_row(
            pipeline.name, pipeline.title, pipeline.version[:12], " → ".join(s.kind for s in pipeline.stages)
        )
    console.print(table)


@pipelines_app.command("show")
def pipelines_show(name: str) -> None:
    """Print one pipeline's full definition (the snapshot applications start under) as JSON."""
    from pipelines.registry import PIPELINES

    pipeline = PIPELINES.get(name)
    if pipeline is None:
        errors.print(f"no pipeline '{name}'; known pipelines: {', '.join(sorted(PIPELINES))}")
        raise typer.Exit(1)
    console.print_json(data={"version": pipeline.version, "definition": pipeline.snapshot()})


@pipelines_app.command("validate")
def pipelines_validate(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Python files defining pipelines; default: all registered")
    ] = None,
) -> None:
    """Validate pipelines and print every problem, naming the pipeline and the stage."""
    import importlib.util

    from pipelines.base import Pipeline, PipelineError

    found: list[Pipeline] = []
    try:
        if files:
            for path in files:
                spec = importlib.util.spec_from_file_location(f"_pipelines_{path.stem}", path)
                if spec is None or spec.loader is None:
                    errors.print(f"{path}: not a Python file")
                    raise typer.Exit(2)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                found += [v for v in vars(module).values() if isinstance(v, Pipeline)]
        else:
            from pipelines.registry import PIPELINES

            found = list(PIPELINES.values())
    except PipelineError as error:
        for problem in error.problems:
            errors.print(problem, soft_wrap=True)
        raise typer.Exit(1) from None
    from pipelines.registry import validate

    failed = False
    for pipeline in found:
        try:
            validate(pipeline)
            console.print(f"ok  {pipeline.name} ({pipeline.version[:12]})")
        except PipelineError as error:
            failed = True
            for problem in error.problems:
                errors.print(problem, soft_wrap=True)
    if not found:
        errors.print("no pipelines found")
    raise typer.Exit(1 if failed or not found else 0)
