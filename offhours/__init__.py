"""offhours: asynchronous hiring on Temporal. Shared settings, database models and the CLI."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
