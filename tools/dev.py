"""`offhours dev`: the whole product on one machine, with nothing installed by hand.

Starts a Temporal dev server (persistent SQLite file, web UI on), the local SMTP catcher, the worker
and the API as child processes, each in its own session so that Ctrl-C reaches only this supervisor,
which then stops them in reverse order. Starting again resumes every in-flight application: the
Temporal history and the product database both live under `.offhours/`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from offhours.migrate import upgrade
from offhours.settings import load_settings, new_key
from tools.binaries import temporal_cli


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _dev_staff(database_url: str, state_dir: Path) -> tuple[str, str]:
    """An ops account for the staff pages in development, its password kept beside the other secrets."""
    from sqlmodel import Session, select

    from offhours import accounts
    from offhours.db import make_engine
    from offhours.models import User

    email = "dev@offhours.localhost"
    password = _persistent_secret(state_dir / "staff-password")
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            user = session.exec(select(User).where(User.email == email)).first()
            if user is None:
                accounts.create_user(session, email, "Development ops", "ops", password=password)
            elif not accounts.verify_password(password, user.password_hash):
                accounts.set_password(session, user, password)
            session.commit()
    finally:
        engine.dispose()
    return email, password


def _persistent_secret(path: Path, make: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


CLI_MODULE = "tools.cli"  # the children are this same program's commands


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for_port(port: int, child: Child, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.process.returncode} while starting")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not open port {port} within {seconds:.0f}s")


def _wait_healthy(url: str, children: list[Child], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with code {child.process.returncode} while starting")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.3)
    raise RuntimeError(f"the API did not become healthy within {seconds:.0f}s: {last}")


def _stop(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            print(f"  stopped {child.name}")


def run_dev(state_dir: Path, api_port: int, temporal_port: int, ui_port: int, smtp_port: int) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    for port, what in (
        (api_port, "API"),
        (temporal_port, "Temporal"),
        (ui_port, "Temporal UI"),
        (smtp_port, "SMTP"),
    ):
        if not _port_free(port):
            print(f"port {port} for the {what} is already in use; stop what holds it or choose another port")
            return 1
    ports = _Ports(api_port, temporal_port, ui_port, smtp_port)
    env = _environment(state_dir, ports)
    settings = load_settings(
        **{k.removeprefix("OFFHOURS_"): v for k, v in env.items() if k.startswith("OFFHOURS_")}
    )
    print("offhours dev: applying database migrations")
    upgrade(settings.DATABASE_URL)
    staff_email, staff_password = _dev_staff(settings.DATABASE_URL, state_dir)

    children: list[Child] = []
    interrupted = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        _start_all(state_dir, ports, env, settings.TEMPORAL_NAMESPACE, children)
    except RuntimeError as error:
        print(f"offhours dev: {error}; logs are in {state_dir}/")
        _stop(children)
        return 1
    print(_banner(state_dir, ports, env["OFFHOURS_ADMIN_TOKEN"], staff_email, staff_password), flush=True)
    code = 0
    while not interrupted:
        for child in children:
            if child.process.poll() is not None:
                print(
                    f"offhours dev: {child.name} exited with code {child.process.returncode}; see {state_dir}/{child.name}.log"
                )
                interrupted = True
                code = 1
                break
        time.sleep(0.3)
    print("offhours dev: stopping")
    _stop(children)
    return code


@dataclass(frozen=True)
class _Ports:
    api: int
    temporal: int
    ui: int
    smtp: int


def _environment(state_dir: Path, ports: _Ports) -> dict[str, str]:
    """The settings every child process shares: what the caller set wins over these defaults."""
    env = dict(os.environ)
    defaults = {
        "OFFHOURS_ENVIRONMENT": "development",
        "OFFHOURS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports.temporal}",
        "OFFHOURS_DATABASE_URL": f"sqlite:///{state_dir / 'offhours.db'}",
        "OFFHOURS_SMTP_HOST": "127.0.0.1",
        "OFFHOURS_SMTP_PORT": str(ports.smtp),
        "OFFHOURS_SMTP_TLS": "none",
        "OFFHOURS_PUBLIC_URL": f"http://127.0.0.1:{ports.api}",
        "OFFHOURS_DATA_DIR": str(state_dir / "data"),
        "OFFHOURS_MAILBOX_DIR": str(state_dir / "mailbox"),
        "OFFHOURS_ARCHIVE_EVERY_SECONDS": "5",  # closed histories show up in the archive quickly
        # webhooks to a receiver on this machine (http://127.0.0.1:...) while developing
        "OFFHOURS_WEBHOOK_ALLOW_PRIVATE": "true",
        "OFFHOURS_TEMPORAL_UI_ORIGIN": f"http://127.0.0.1:{ports.ui},http://localhost:{ports.ui}",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env.setdefault("OFFHOURS_SECRET_KEY", _persistent_secret(state_dir / "secret-key"))
    env.setdefault("OFFHOURS_ADMIN_TOKEN", _persistent_secret(state_dir / "admin-token"))
    # Every process (API, worker, CLI) must share the encryption keys: kept here, mode 0600.
    env.setdefault(
        "OFFHOURS_PAYLOAD_KEYS", _persistent_secret(state_dir / "payload-keys", lambda: new_key("dev1"))
    )
    env.setdefault(
        "OFFHOURS_MASTER_KEYS", _persistent_secret(state_dir / "master-keys", lambda: new_key("dev1"))
    )
    return env


def _start_all(
    state_dir: Path, ports: _Ports, env: dict[str, str], namespace: str, children: list[Child]
) -> None:
    """Temporal, the mail catcher, the worker and the API, each waited for before the next."""
    me = [sys.executable, "-m", CLI_MODULE]

    def spawn(name: str, argv: list[str]) -> Child:
        log = open(state_dir / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        child = Child(name, process)
        children.append(child)
        return child

    temporal = spawn(
        "temporal",
        [
            temporal_cli(), "server", "start-dev",
            "--db-filename", str(state_dir / "temporal.db"),
            "--ip", "127.0.0.1", "--port", str(ports.temporal), "--ui-port", str(ports.ui),
            # The UI asks the API to decode payloads: signed-in ops and auditors read them there.
            "--ui-codec-endpoint", f"http://127.0.0.1:{ports.api}/codec",
            "--namespace", namespace,
            "--log-level", "warn",
        ],
    )  # fmt: skip
    print("offhours dev: starting Temporal")
    _wait_for_port(ports.temporal, temporal, 60)
    mail = spawn("mailcatcher", [*me, "mailcatcher", "--port", str(ports.smtp)])
    _wait_for_port(ports.smtp, mail, 30)
    spawn("worker", [*me, "worker"])
    api = spawn("api", [*me, "api", "--host", "127.0.0.1", "--port", str(ports.api)])
    _wait_for_port(ports.api, api, 60)
    _wait_healthy(f"http://127.0.0.1:{ports.api}/health", children, 60)


def _banner(state_dir: Path, ports: _Ports, token: str, staff_email: str, staff_password: str) -> str:
    api = f"http://127.0.0.1:{ports.api}"
    return f"""
offhours is running
  API            {api}   (OpenAPI: {api}/docs)
  Mailbox        {api}/dev/mailbox
  Temporal UI    http://127.0.0.1:{ports.ui}   (payloads decoded for signed-in ops and auditors)
  Temporal       127.0.0.1:{ports.temporal}   SMTP catcher 127.0.0.1:{ports.smtp}
  Staff token    {token}
  Staff pages    {api}/staff   sign in as {staff_email} / {staff_password}
  State & logs   {state_dir}/

Try:
  curl -s -X POST {api}/api/v1/jobs -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' -d '{{"title": "Support engineer", "pipeline": "standard"}}'
Press Ctrl-C to stop."""
