"""The offhours command: one module per group of commands, all on one Typer app. The modules are
imported in the order their commands are listed by --help."""

# isort: skip_file
from offhours.cli.common import app
from offhours.cli import run
from offhours.cli import database
from offhours.cli import invitations
from offhours.cli import audit
from offhours.cli import staff
from offhours.cli import pipelines


def main() -> None:
    app()


__all__ = ["app", "audit", "database", "invitations", "main", "pipelines", "run", "staff"]
