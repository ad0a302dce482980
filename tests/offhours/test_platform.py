"""Settings, migrations, health, the development mailbox and the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel
from temporalio.client import Client

import offhours.models  # noqa: F401  (registers the tables)
from api.app import create_app
from offhours.db import make_engine
from offhours.migrate import upgrade
from offhours.settings import Settings, SettingsError, load_settings, new_key
from tests.support.actors import unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack, free_port
from workers import build_worker

# ----------------------------------------------------------------------------- settings


def test_production_requires_a_secret_key() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(ENVIRONMENT="production", SECRET_KEY=None)
    assert "OFFHOURS_SECRET_KEY is required outside development" in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SMTP_PORT": "seventy"}, "OFFHOURS_SMTP_PORT"),
        ({"SMTP_PORT": 70000}, "OFFHOURS_SMTP_PORT"),
        ({"SMTP_TLS": "maybe"}, "OFFHOURS_SMTP_TLS"),
        ({"PUBLIC_URL": "offhours.example"}, "OFFHOURS_PUBLIC_URL"),
        ({"TEMPORAL_ADDRESS": "localhost"}, "OFFHOURS_TEMPORAL_ADDRESS"),
        ({"DATABASE_URL": "mysql://x"}, "OFFHOURS_DATABASE_URL"),
        ({"ENVIRONMENT": "staging"}, "OFFHOURS_ENVIRONMENT"),
    ],
)
def test_invalid_settings_name_the_variable(overrides: dict[str, Any], variable: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(**{"ENVIRONMENT": "development", **overrides})
    assert variable in str(error.value)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "platform-test-secret-key-0123456789abcdef"
    monkeypatch.setenv("OFFHOURS_ENVIRONMENT", "production")
    monkeypatch.setenv("OFFHOURS_SECRET_KEY", secret)
    monkeypatch.setenv("OFFHOURS_PAYLOAD_KEYS", new_key("p1"))
    monkeypatch.setenv("OFFHOURS_MASTER_KEYS", new_key("m1"))
    monkeypatch.setenv("OFFHOURS_SMTP_TLS", "starttls")
    monkeypatch.setenv("OFFHOURS_PUBLIC_URL", "https://jobs.example.org/")
    settings = load_settings()
    assert settings.SMTP_TLS == "starttls"
    assert settings.PUBLIC_URL == "https://jobs.example.org"
    assert settings.secret_key == secret


def test_cli_refuses_to_start_with_invalid_settings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOURS_")}
    env.update({"OFFHOURS_ENVIRONMENT": "production", "OFFHOURS_SMTP_PORT": "not-a-port"})
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "OFFHOURS_SMTP_PORT" in result.stderr
    env["OFFHOURS_SMTP_PORT"] = "2525"
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "OFFHOURS_SECRET_KEY is required outside development" in result.stderr


# ----------------------------------------------------------------------------- migrations


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        tables = set(inspect(connection).get_table_names())
    assert diff == [], f"models and migrations disagree; run `offhours db revision`: {diff}"
    assert {"jobs", "candidates", "applications", "answers", "scorecards", "email_messages"} <= tables


def test_db_upgrade_command_is_idempotent(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OFFHOURS_ENVIRONMENT": "development",
        "OFFHOURS_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
    }
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "tools.cli", "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "c.db").exists()


# ----------------------------------------------------------------------------- health


async def test_health_is_ok_when_database_and_temporal_are_up(stack: Stack) -> None:
    response = await stack.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_health_is_503_naming_temporal_when_it_is_down(settings: Settings, engine: object) -> None:
    down = settings.model_copy(update={"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    app = create_app(down, engine=engine)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/health")
        assert response.status_code == 503
        assert set(response.json()["problems"]) == {"temporal"}
        job = await http.post(
            "/api/v1/jobs",
            json={"title": "x", "pipeline": "standard"},
            headers={"Authorization": "Bearer " + (down.ADMIN_TOKEN or "")},
        )
        assert job.status_code == 201  # jobs need no workflow
        invite = await http.post(
            "/api/v1/applications",
            json={
                "job_id": job.json()["id"],
                "candidate": {"name": "A", "email": unique_email(), "timezone": "UTC"},
            },
            headers={"Authorization": "Bearer " + (down.ADMIN_TOKEN or "")},
        )
        assert invite.status_code == 503
        assert "Temporal" in invite.json()["detail"]
        listing = await http.get(
            "/api/v1/applications", headers={"Authorization": "Bearer " + (down.ADMIN_TOKEN or "")}
        )
        assert listing.json() == [], "a refused invitation must leave no application behind"


async def test_health_is_503_naming_the_database_when_it_is_down(stack: Stack, tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x' / 'db.sqlite'}")
    (tmp_path / "no-such-dir" / "x").rmdir()
    app = create_app(stack.settings, temporal_client=stack.client, engine=broken)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/health")
    assert response.status_code == 503
    assert set(response.json()["problems"]) == {"database"}


async def test_workflow_start_refused_leaves_nothing_behind(stack: Stack) -> None:
    """Temporal reachable but refusing the start (here: an unknown namespace) saves nothing."""
    refusing = await Client.connect(
        stack.client.service_client.config.target_host, namespace="no-such-namespace"
    )
    app = create_app(stack.settings, temporal_client=refusing, engine=stack.engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        job = await stack.create_job()
        address = unique_email()
        response = await http.post(
            "/api/v1/applications",
            json={"job_id": job["id"], "candidate": {"name": "A", "email": address, "timezone": "UTC"}},
            headers={"Authorization": f"Bearer {stack.settings.ADMIN_TOKEN}"},
        )
    assert response.status_code == 503
    assert "nothing was saved" in response.json()["detail"]
    # The same invitation goes through once the engine accepts it: nothing half-written blocks it.
    application = await stack.invite(job["id"], address)
    assert application["status"] == "invited"


# ----------------------------------------------------------------------------- mailbox page


async def test_development_mailbox_shows_caught_messages(stack: Stack, tmp_path: Path) -> None:
    maildir = tmp_path / "mailbox"
    port = free_port()
    catcher = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "mailcatcher", "--port", str(port), "--maildir", str(maildir)],
        env={**os.environ, "OFFHOURS_ENVIRONMENT": "development"},
    )
    try:
        settings = stack.settings.model_copy(
            update={"ENVIRONMENT": "development", "SMTP_PORT": port, "MAILBOX_DIR": maildir}
        )
        for _ in range(100):
            if (maildir / "new").exists():
                break
            await asyncio.sleep(0.1)
        settings = settings.model_copy(update={"TASK_QUEUE": settings.TASK_QUEUE + "-dev"})
        dev_app = create_app(settings, temporal_client=stack.client, engine=stack.engine)
        async with (
            build_worker(stack.client, settings, stack.engine),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=dev_app), base_url="http://t") as http,
        ):
            headers = {"Authorization": f"Bearer {settings.ADMIN_TOKEN}"}
            job = (
                await http.post(
                    "/api/v1/jobs", json={"title": "Mailbox role", "pipeline": "standard"}, headers=headers
                )
            ).json()
            address = unique_email()
            created = await http.post(
                "/api/v1/applications",
                json={"job_id": job["id"], "candidate": {"name": "Mo", "email": address, "timezone": "UTC"}},
                headers=headers,
            )
            assert created.status_code == 201
            messages: list[Any] = []
            for _ in range(200):
                messages = (await http.get("/dev/mailbox.json")).json()
                if messages:
                    break
                await asyncio.sleep(0.1)
            assert len(messages) == 1
            assert messages[0]["to"] == address
            assert messages[0]["subject"].startswith("Your interview for Mailbox role")
            assert "/c/" in messages[0]["text"]
            page = await http.get("/dev/mailbox")
            assert page.status_code == 200
            assert "Mailbox role" in page.text
            one = await http.get(f"/dev/mailbox/{messages[0]['key']}")
            assert one.status_code == 200
            assert token_from(next(w for w in messages[0]["text"].split() if "/c/" in w)) in one.text
    finally:
        catcher.terminate()
        catcher.wait(timeout=10)


async def test_mailbox_is_not_served_outside_development(stack: Stack) -> None:
    assert (await stack.http.get("/dev/mailbox")).status_code == 404
    assert (await stack.http.get("/dev/mailbox.json")).status_code == 404


async def test_openapi_documents_the_api(stack: Stack) -> None:
    spec = (await stack.http.get("/openapi.json")).json()
    for path in (
        "/api/v1/jobs",
        "/api/v1/applications",
        "/api/v1/applications/{application_id}",
        "/api/v1/applications/{application_id}/scorecards",
        "/api/v1/applications/{application_id}/decision",
        "/api/v1/candidate/{token}",
        "/api/v1/candidate/{token}/answers",
        "/api/v1/candidate/{token}/submit",
        "/health",
    ):
        assert path in spec["paths"], path
    assert (await stack.http.get("/docs")).status_code == 200
