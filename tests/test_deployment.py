"""docker-compose.yml cannot run here (no Docker engine), so it is parsed and checked against the
settings the product really reads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from offhours import ROOT
from offhours.settings import ENV_PREFIX, Settings, load_settings, new_key


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_the_multi_machine_shape() -> None:
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "mail", "migrate", "api", "worker"} <= set(services)
    assert services["api"]["command"][:2] == ["offhours", "api"]
    assert services["worker"]["command"] == ["offhours", "worker"]
    assert services["migrate"]["command"] == ["offhours", "db", "upgrade"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_environment_is_valid_production_settings() -> None:
    env = compose()["services"]["api"]["environment"]
    unknown = {
        k
        for k in env
        if not k.startswith(ENV_PREFIX) or k.removeprefix(ENV_PREFIX) not in Settings.model_fields
    }
    assert not unknown, f"docker-compose.yml sets variables the product does not read: {unknown}"
    values = {}
    for key, value in env.items():
        # ${VAR:?message} must be given by the operator; stand in a valid value. ${VAR:-default}
        # is what the operator gets when they give nothing.
        default = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", str(value))
        stand_in = new_key("k1") if key.endswith("_KEYS") else "stand-in-secret-0123456789abcdefghij"
        if default:
            values[key.removeprefix(ENV_PREFIX)] = default[1]
        else:
            values[key.removeprefix(ENV_PREFIX)] = (
                stand_in if re.fullmatch(r"\$\{.*\}", str(value)) else value
            )
    settings = load_settings(**values)
    assert settings.ENVIRONMENT == "production"
    assert settings.DATABASE_URL.startswith("postgresql+psycopg://")
    assert compose()["services"]["worker"]["environment"] == env


def test_dockerfile_copies_every_package() -> None:
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = [pattern.rstrip("*") for pattern in found["include"]]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for top in {p.split(".")[0] for p in packages} | {"templates", "workers.py"}:
        assert re.search(rf"^COPY {re.escape(top)}\b", dockerfile, re.M), f"Dockerfile does not copy {top}"
    assert Path(ROOT / "templates" / "emails" / "invite.html").exists()
