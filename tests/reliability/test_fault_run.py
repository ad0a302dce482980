"""The fault run's short version (reliability/fault_run.py): 20 applications through a real API
process while the worker process is killed with SIGKILL every 5 seconds. Every journey completes, none
is stranded by an answer the client believes, nothing is lost, no email is sent as two."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_fault_run() -> object:
    spec = importlib.util.spec_from_file_location("fault_run", ROOT / "reliability" / "fault_run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_run"] = module
    spec.loader.exec_module(module)
    return module


# A run, not a timed test: each kill costs the journeys caught by it an activity timeout (30 s for
# database steps, 90 s for emails), so it takes 3 to 6 minutes on 2 cores; the run's own limit is
# 300 s per step.
@pytest.mark.timeout(900)
async def test_twenty_applications_with_the_worker_killed_every_five_seconds(tmp_path: Path) -> None:
    fault_run = load_fault_run()
    figures = await fault_run.fault_run(  # type: ignore[attr-defined]
        applications=20, kill_every=5.0, concurrency=20, timeout=300.0, workdir=tmp_path, quiet=True
    )
    line = figures.line()
    assert figures.kills >= 5, f"the worker was hardly killed, the run proves nothing: {line}"
    assert figures.stranded_at == [], line
    assert figures.completed == 20, line
    assert figures.lost == 0, line
    # Never one intended email under two Message-IDs. The same Message-ID again needs a kill in the
    # few milliseconds between the relay taking a message and its record as sent (a mail client
    # shows it once): each redelivery costs a kill, and only a kill in that instant. Were the record
    # no longer made as the relay answers (after the goodbye, say, or not at all), most kills that
    # found an email in flight would send it again.
    assert figures.resent == 0, line
    assert figures.redelivered <= max(1, figures.kills // 10), line
    assert figures.message_ids >= 20 * 3, line
