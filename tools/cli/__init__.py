"""The offhours command: one module per group of commands, all on one Typer app. The modules are
imported in the order their commands are listed by --help."""

# isort: skip_file
from tools.cli.common import app
from tools.cli import run
from tools.cli import database
from tools.cli import invitations
from tools.cli import audit
from tools.cli import staff
from tools.cli import pipelines
from tools.cli import report


def main() -> None:
    app()


__all__ = ["app", "audit", "database", "invitations", "main", "pipelines", "report", "run", "staff"]
