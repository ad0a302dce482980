"""`offhours dev` as a newcomer runs it: everything starts, Ctrl-C stops every child, and a restart
resumes the application where it was."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.actors import unique_email
from tests.support.stack import free_port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Dev:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.ports = {name: free_port() for name in ("api", "temporal", "ui", "smtp")}
        self.process: subprocess.Popen[str] | None = None
        self.output = state.parent / "dev-output.txt"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOURS_")}
        p = self.ports
        argv = [
            sys.executable,
            "-m",
            "tools.cli",
            "dev",
            "--state-dir",
            str(self.state),
            "--port",
            str(p["api"]),
        ]
        argv += [
            "--temporal-port",
            str(p["temporal"]),
            "--ui-port",
            str(p["ui"]),
            "--smtp-port",
            str(p["smtp"]),
        ]
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=self.output.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.state.parent,
        )
        deadline = time.monotonic() + 120
        while "Press Ctrl-C to stop." not in self.output.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"offhours dev did not start:\n{self.output.read_text()}")
            time.sleep(0.2)

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(self.state / 'admin-token').read_text().strip()}"}

    def wait_mail(self, http: httpx.Client, recipient: str, count: int) -> list[dict[str, Any]]:
        for _ in range(300):
            mails = [m for m in http.get("/dev/mailbox.json").json() if m["to"] == recipient]
            if len(mails) >= count:
                return sorted(mails, key=lambda m: m["date"])
            time.sleep(0.1)
        pytest.fail(f"{count} message(s) to {recipient} did not arrive")


def test_dev_starts_everything_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    dev = Dev(tmp_path / ".offhours")
    dev.start()
    try:
        with httpx.Client(base_url=dev.url, timeout=30) as http:
            assert http.get("/health").json()["status"] == "ok"
            printed = dev.output.read_text()
            assert dev.url in printed
            assert f"127.0.0.1:{dev.ports['ui']}" in printed
            assert (dev.state / "admin-token").read_text().strip() in printed
            # The printed staff sign-in works in a browser session.
            password = (dev.state / "staff-password").read_text().strip()
            assert f"dev@offhours.localhost / {password}" in printed
            login = http.get("/staff/login", headers={"Accept": "text/html"})
            csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            signed_in = http.post(
                "/staff/login",
                data={
                    "csrf_token": csrf,
                    "email": "dev@offhours.localhost",
                    "password": password,
                    "next": "/staff",
                },
            )
            assert signed_in.status_code == 303
            assert "offhours_session" in http.cookies
            http.cookies.clear()
            ui = httpx.get(f"http://127.0.0.1:{dev.ports['ui']}/", timeout=10)
            assert ui.status_code == 200, "the Temporal web UI is on"
            # The UI is pointed at the API's codec endpoint, which answers the UI's origin; the keys
            # every process shares are kept in the state folder, readable by their owner only.
            ui_origin = f"http://127.0.0.1:{dev.ports['ui']}"
            preflight = http.options(
                "/codec/decode", headers={"Origin": ui_origin, "Access-Control-Request-Method": "POST"}
            )
            assert preflight.headers.get("access-control-allow-origin") == ui_origin
            assert http.post("/codec/decode", json={"payloads": []}).status_code == 401
            for name in ("payload-keys", "master-keys"):
                assert (dev.state / name).stat().st_mode & 0o777 == 0o600
            job = http.post(
                "/api/v1/jobs", json={"title": "Night nurse", "pipeline": "standard"}, headers=dev.staff()
            )
            address = unique_email()
            application = http.post(
                "/api/v1/applications",
                json={
                    "job_id": job.json()["id"],
                    "candidate": {"name": "Flo", "email": address, "timezone": "UTC"},
                },
                headers=dev.staff(),
            ).json()
            [invite] = dev.wait_mail(http, address, 1)
            token = next(w for w in invite["text"].split() if "/c/" in w).rsplit("/c/", 1)[1]
            saved = http.post(
                f"/api/v1/candidate/{token}/answers",
                json={"question_id": "motivation", "text": "Nights suit me."},
            )
            assert saved.status_code == 200, saved.text
    finally:
        code = dev.interrupt()
    assert code == 0, dev.output.read_text()
    for name, port in dev.ports.items():
        assert port_is_free(port), f"the {name} process still holds port {port} after Ctrl-C"
    assert "stopped temporal" in dev.output.read_text()

    dev.start()
    try:
        with httpx.Client(base_url=dev.url, timeout=30) as http:
            detail = http.get(f"/api/v1/applications/{application['id']}", headers=dev.staff()).json()
            assert detail["status"] == "in_progress"
            assert [a["text"] for a in detail["answers"]] == ["Nights suit me."]
            url = f"/api/v1/candidate/{token}"
            assert (
                http.post(
                    f"{url}/answers", json={"question_id": "experience", "text": "Ten years."}
                ).status_code
                == 200
            )
            submitted = http.post(f"{url}/submit")
            assert submitted.status_code == 200, submitted.text
            mails = dev.wait_mail(http, address, 2)
            assert mails[1]["subject"] == "We have received your answers for Night nurse"
            # Once the application closes, the worker archives its history into the hash chain.
            withdrawn = http.post(
                f"/api/v1/applications/{application['id']}/withdraw", json={}, headers=dev.staff()
            )
            assert withdrawn.status_code == 200, withdrawn.text
            archived = dev.state / "data" / "archive" / f"application-{application['id']}.json"
            for _ in range(300):
                if archived.exists():
                    break
                time.sleep(0.1)
            assert archived.exists(), "the worker did not archive the closed history"
    finally:
        assert dev.interrupt() == 0
