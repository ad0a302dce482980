"""Fault run: applications driven through the HTTP API while the worker is killed with SIGKILL.

As an integration would use the product: a real API process (uvicorn), a real worker process, the
Temporal dev server, a real SMTP server counting every message, SQLite. N applications go from
invitation to decision through the API (invite, read the link from the email, two answers, submit,
wait for review, scorecard by the assigned reviewer, decision), at most C at once, while the worker
is killed (SIGKILL) every K seconds and started again at once.

The client is a careful integration: each call carries an Idempotency-Key; a 5xx (or a dropped
connection) is sent again with the same key after its Retry-After; a 4xx is believed and never
retried, which strands that application. Printed at the end:

  completed   applications approved, with their answers, scorecard and decision recorded
  stranded    applications whose journey stopped on a 4xx (or did not finish in time)
  lost        applications the API created whose workflow or recorded steps went missing
  duplicates  emails received twice: the same Message-ID again (a worker lost in the instant between
              the relay taking a message and its record as sent; a mail client shows one), or
              one intended email under two Message-IDs (sent twice by the product: never allowed)

Run from the repository root:
  .venv/bin/python reliability/fault_run.py --applications 100 --kill-every 10
Exit status 0 when every application completed with nothing stranded or lost and no email sent as two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine
from sqlmodel import Session as DbSession

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offhours import accounts  # noqa: E402
from offhours.db import make_engine  # noqa: E402
from offhours.migrate import upgrade  # noqa: E402
from offhours.settings import new_key  # noqa: E402
from pipelines.people import PEOPLE  # noqa: E402
from tools.binaries import temporal_cli  # noqa: E402

ADMIN_TOKEN = "fault-run-admin-token-0123456789abcdef"
STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SCORECARD = {
    "overall_recommendation": "yes",
    "ratings": {"communication": 4, "relevant_experience": 4, "motivation": 4},
    "notes": "Concrete examples.",
}
EXPECTED_KINDS = ("decision", "invite", "submitted")  # what each candidate of the standard pipeline gets
LINK = re.compile(r"https?://\S+/c/[A-Za-z0-9_.\-]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------ SMTP


@dataclass
class Mail:
    recipients: list[str]
    message_id: str
    text: str


class Catcher:
    """Every message received, kept (aiosmtpd calls this from its own thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: ARG002 (aiosmtpd's interface)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""
        with self.lock:
            self.mails.append(Mail(list(envelope.rcpt_tos), str(message["Message-ID"]), text))
        return "250 Message accepted"

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if address in m.recipients]


# ------------------------------------------------------------------------------- processes


class Processes:
    def __init__(self, environment: dict[str, str], logs: Path) -> None:
        self.environment = environment
        self.logs = logs
        self.worker: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def _start(self, *command: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{command[0]}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "tools.cli", *command],
            env=self.environment,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_api(self, port: int) -> None:
        self.api = self._start("api", "--port", str(port))

    def start_worker(self) -> None:
        self.worker = self._start("worker")

    def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
            self.kills += 1
        self.start_worker()

    def stop(self) -> None:
        for process in (self.worker, self.api):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


# ---------------------------------------------------------------------------------- client


class Stranded(Exception):
    def __init__(self, step: str, response: httpx.Response | None, detail: str = "") -> None:
        text = detail or (f"{response.status_code} {response.text[:200]}" if response is not None else "")
        super().__init__(f"{step}: {text}")
        self.step = step


@dataclass
class Client:
    http: httpx.AsyncClient
    deadline_seconds: float
    retries: Counter[str] = field(default_factory=Counter)

    async def call(self, step: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Sent until it gets an answer that is not a 5xx, with one Idempotency-Key throughout;
        a 4xx is the answer (the caller decides whether it strands the application)."""
        headers = {**kwargs.pop("headers", {})}
        if method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        ends = time.monotonic() + self.deadline_seconds
        while True:
            try:
                response = await self.http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 500:
                return response
            if time.monotonic() > ends:
                raise Stranded(step, response, "no answer but 5xx before the deadline")
            self.retries[step] += 1
            wait = 1.0
            if response is not None and response.headers.get("retry-after", "").isdigit():
                wait = min(float(response.headers["retry-after"]), 5.0)
            await asyncio.sleep(wait)

    async def expect(self, step: str, status: int, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.call(step, method, url, **kwargs)
        if response.status_code != status:
            raise Stranded(step, response)
        return dict(response.json()) if response.content else {}


@dataclass
class Journey:
    n: int
    address: str
    application_id: str | None = None
    completed: bool = False
    stranded: str | None = None
    seconds: float = 0.0


async def wait_until(what: str, check: Any, timeout: float) -> Any:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise Stranded(what, None, f"not within {timeout:.0f} s")


async def journey(
    client: Client,
    catcher: Catcher,
    job_id: str,
    tokens: dict[str, dict[str, str]],
    run: Journey,
    timeout: float,
) -> None:
    started = time.monotonic()
    try:
        body = {
            "job_id": job_id,
            "candidate": {"name": f"Candidate {run.n}", "email": run.address, "timezone": "UTC"},
        }
        created = await client.expect("invite", 201, "POST", "/api/v1/applications", json=body, headers=STAFF)
        run.application_id = created["id"]
        app_url = f"/api/v1/applications/{run.application_id}"

        async def invitation() -> str | None:
            for mail in catcher.to(run.address):
                found = LINK.search(mail.text)
                if found:
                    return found.group(0).rsplit("/c/", 1)[1]
            return None

        token = await wait_until("invitation email", invitation, timeout)
        for question, text in (("motivation", "The work matters."), ("experience", "Years of it.")):
            await client.expect(
                f"answer {question}",
                200,
                "POST",
                f"/api/v1/candidate/{token}/answers",
                json={"question_id": question, "text": text},
            )
        await client.expect("submit", 200, "POST", f"/api/v1/candidate/{token}/submit")

        async def reviewer() -> str | None:
            detail = await client.expect("read", 200, "GET", app_url, headers=STAFF)
            open_ = [a["reviewer"] for a in detail.get("review_assignments", []) if a["status"] == "assigned"]
            return open_[0] if detail["status"] == "in_review" and open_ else None

        person = await wait_until("in review", reviewer, timeout)
        await client.expect(
            "scorecard", 201, "POST", f"{app_url}/scorecards", json=SCORECARD, headers=tokens[person]
        )
        decided = await client.expect(
            "decision", 200, "POST", f"{app_url}/decision", json={"decision": "approve"}, headers=STAFF
        )
        if decided.get("decision") != "approve":
            raise Stranded("decision", None, f"answered {decided.get('status')}")

        async def approved() -> bool:
            detail = await client.expect("read", 200, "GET", app_url, headers=STAFF)
            return bool(detail["status"] == "approved")

        await wait_until("approved", approved, timeout)
        run.completed = True
    except Stranded as error:
        run.stranded = str(error)
    finally:
        run.seconds = time.monotonic() - started


# ------------------------------------------------------------------------------------ run


@dataclass
class Figures:
    applications: int
    kill_every: float
    completed: int
    stranded: int
    lost: int
    duplicate_emails: int
    redelivered: int  # the same Message-ID received again
    resent: int  # one intended email under another Message-ID
    messages: int
    message_ids: int
    kills: int
    retries: int
    seconds: float
    stranded_at: list[str]
    duplicated: list[str]

    def line(self) -> str:
        return (
            f"completed {self.completed}/{self.applications}, stranded {self.stranded}, lost {self.lost}, "
            f"duplicate emails {self.duplicate_emails} ({self.redelivered} same Message-ID, {self.resent} "
            f"another; {self.messages} messages, {self.message_ids} "
            f"Message-IDs); {self.kills} worker kills (every {self.kill_every:g} s), {self.retries} "
            f"retried calls, {self.seconds:.0f} s"
        )


async def fault_run(
    applications: int = 100,
    kill_every: float = 10.0,
    concurrency: int = 20,
    timeout: float = 300.0,
    workdir: Path | None = None,
    quiet: bool = False,
) -> Figures:
    from temporalio.testing import WorkflowEnvironment

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    directory = workdir or Path(tempfile.mkdtemp(prefix="offhours-fault-"))
    directory.mkdir(parents=True, exist_ok=True)
    catcher = Catcher()
    smtp = Controller(catcher, hostname="127.0.0.1", port=free_port())
    smtp.start()
    temporal = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        ui=False,
        dev_server_log_level="error",
        dev_server_extra_args=["--ip", "127.0.0.1"],
    )
    database = f"sqlite:///{directory / 'offhours.db'}"
    upgrade(database)
    port = free_port()
    settings = _settings(
        directory, database, temporal.client.service_client.config.target_host, smtp.port, port
    )
    environment = {**os.environ, **{f"OFFHOURS_{k}": v for k, v in settings.items()}}
    engine = make_engine(database)
    tokens = _staff_tokens(engine)
    processes = Processes(environment, directory)
    processes.start_api(port)
    processes.start_worker()
    runs = [Journey(n, f"candidate-{n}-{uuid.uuid4().hex[:6]}@example.com") for n in range(applications)]
    run = _Run(catcher, processes, tokens, runs, kill_every, concurrency, timeout, say)
    try:
        seconds, lost, retries = await run.drive(port)
    finally:
        processes.stop()
        await temporal.shutdown()
        smtp.stop()
        engine.dispose()
    figures = _figures(run, seconds, lost, retries)
    say(figures.line())
    for line in figures.stranded_at:
        say(f"  stranded {line}")
    for line in figures.duplicated:
        say(f"  duplicate: {line}")
    return figures


def _settings(directory: Path, database: str, temporal: str, smtp_port: int, port: int) -> dict[str, str]:
    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": temporal,
        "TASK_QUEUE": f"fault-{uuid.uuid4().hex[:8]}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "fault-run-secret-key-that-is-long-enough-0123",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "PAYLOAD_KEYS": new_key("fault-payload"),
        "MASTER_KEYS": new_key("fault-master"),
        "DATA_DIR": str(directory / "data"),
        "MAILBOX_DIR": str(directory / "mailbox"),
        "ARCHIVE_EVERY_SECONDS": "0",
        # One client address drives every candidate: the per-address limits are for strangers.
        "CANDIDATE_RATE_LIMIT": "1000000/minute",
    }


def _staff_tokens(engine: Engine) -> dict[str, dict[str, str]]:
    """An API token for every person of the directory, as the header that carries it."""
    tokens: dict[str, dict[str, str]] = {}
    with DbSession(engine) as session:
        for person in PEOPLE.values():
            user = accounts.create_user(session, f"{person.id}@example.com", person.name, "ops", person.id)
            _, token = accounts.create_token(session, user.id, "fault run")
            tokens[person.id] = {"Authorization": f"Bearer {token}"}
        session.commit()
    return tokens


@dataclass
class _Run:
    catcher: Catcher
    processes: Processes
    tokens: dict[str, dict[str, str]]
    runs: list[Journey]
    kill_every: float
    concurrency: int
    timeout: float
    say: Callable[[str], None]

    async def drive(self, port: int) -> tuple[float, int, int]:
        """Every journey through the API while the worker is killed on a rhythm: the seconds it
        took, the applications lost and the calls retried."""
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            client = Client(http, deadline_seconds=self.timeout)
            await wait_until("the API", lambda: _healthy(http), 60)
            job = await client.expect(
                "job",
                201,
                "POST",
                "/api/v1/jobs",
                json={"title": "Fault run", "pipeline": "standard"},
                headers=STAFF,
            )
            gate = asyncio.Semaphore(self.concurrency)

            async def one(run: Journey) -> None:
                async with gate:
                    await journey(client, self.catcher, job["id"], self.tokens, run, self.timeout)

            kills = asyncio.create_task(self.killer(started))
            try:
                await asyncio.gather(*(one(run) for run in self.runs))
            finally:
                kills.cancel()
            seconds = time.monotonic() - started
            # Emails still on their way (a decision's, say) are waited for, then counted.
            await asyncio.sleep(3)

            async def all_mail() -> bool:
                return all(
                    len(self.catcher.to(r.address)) >= len(EXPECTED_KINDS) for r in self.runs if r.completed
                )

            with contextlib.suppress(Stranded):
                await wait_until("emails", all_mail, 60)
            return seconds, await _lost(client, self.runs), sum(client.retries.values())

    async def killer(self, started: float) -> None:
        while True:
            await asyncio.sleep(self.kill_every)
            await asyncio.to_thread(self.processes.kill_worker)
            self.say(
                f"  {time.monotonic() - started:5.0f} s  worker killed ({self.processes.kills}); "
                f"{sum(r.completed for r in self.runs)}/{len(self.runs)} completed"
            )


def _figures(run: _Run, seconds: float, lost: int, retries: int) -> Figures:
    mails = run.catcher.mails
    ids = Counter(m.message_id for m in mails)
    twice = [f"{message_id} received {n} times" for message_id, n in ids.items() if n > 1]
    redelivered = sum(n - 1 for n in ids.values() if n > 1)
    resent = 0
    for journey_ in run.runs:  # one email of each kind per candidate, whatever their Message-IDs say
        by_kind: dict[str, set[str]] = {}
        for mail in run.catcher.to(journey_.address):
            by_kind.setdefault(mail.message_id.split(".")[0].lstrip("<"), set()).add(mail.message_id)
        for kind, distinct in by_kind.items():
            if len(distinct) > 1:
                resent += len(distinct) - 1
                twice.append(f"#{journey_.n} got {len(distinct)} '{kind}' emails")
    return Figures(
        applications=len(run.runs),
        kill_every=run.kill_every,
        completed=sum(r.completed for r in run.runs),
        stranded=sum(r.stranded is not None for r in run.runs),
        lost=lost,
        duplicate_emails=redelivered + resent,
        redelivered=redelivered,
        resent=resent,
        messages=len(mails),
        message_ids=len(ids),
        kills=run.processes.kills,
        retries=retries,
        seconds=seconds,
        stranded_at=[f"#{r.n} {r.stranded}" for r in run.runs if r.stranded],
        duplicated=twice,
    )


async def _healthy(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


async def _lost(client: Client, runs: list[Journey]) -> int:
    """Created applications whose workflow history or recorded steps are missing."""
    lost = 0
    for run in runs:
        if run.application_id is None:
            continue
        url = f"/api/v1/applications/{run.application_id}"
        detail = await client.call("check", "GET", url, headers=STAFF)
        history = await client.call("check", "GET", f"{url}/history", headers=STAFF)
        if detail.status_code != 200 or history.status_code != 200:
            lost += 1
            continue
        body = detail.json()
        if run.completed and (
            len(body["answers"]) != 2 or len(body["scorecards"]) != 1 or body["decision"] != "approve"
        ):
            lost += 1
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100)
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between worker kills")
    parser.add_argument("--concurrency", type=int, default=20, help="applications under way at once")
    parser.add_argument("--timeout", type=float, default=300.0, help="longest wait for any one step")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = asyncio.run(fault_run(args.applications, args.kill_every, args.concurrency, args.timeout))
    if args.json:
        args.json.write_text(json.dumps(figures.__dict__, indent=2))
    # Held: every journey completed, none stranded or lost, no email sent as two. The same
    # Message-ID received again is printed, not failed: SMTP cannot say "exactly once".
    held = figures.completed == figures.applications and not (
        figures.stranded or figures.lost or figures.resent
    )
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
