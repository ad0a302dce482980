"""The whole API under a fuzzer: schemathesis draws requests from the OpenAPI spec the app serves
(schema-valid ones and broken ones) and every answer must be a documented status, carry the
documented body, and never be a server error.

The app runs on the real stack (Temporal dev server, worker, SQLite, SMTP): staff operations with the
staff token, candidate operations with a real link from an invitation email, path ids both drawn at
random (404s) and real (the workflow answers). Hypothesis runs in a thread while the event loop
keeps serving the app and the worker; each request is sent to the app on that loop.

`OFFHOURS_FUZZ_EXAMPLES=200 pytest tests/security/test_fuzz.py` runs a longer campaign.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import SerializationNotPossible
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.routes.applications import MAX_OFFSET
from offhours.settings import Settings
from tests.support.actors import STAFF, unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack

EXAMPLES = int(os.environ.get("OFFHOURS_FUZZ_EXAMPLES", "8"))  # per operation and generation mode
BASE_URL = "http://offhours.test"
CHECKS: list[CheckFunction] = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Schema-valid requests the product refuses on what a schema cannot say (a question this pipeline
# does not ask, a user who does not exist, a reserved email domain, a CSV without its header):
# reported (pytest -s), not failed.
ADVISORY: list[CheckFunction] = [positive_data_acceptance]


@pytest.fixture
def hypothesis_as_it_was() -> Iterator[None]:
    """schemathesis patches Hypothesis globally the first time it draws (a faster, silent printer;
    a larger buffer): put it back after the fuzzer, for the Hypothesis tests that run later."""
    from hypothesis import core
    from hypothesis.internal import entropy
    from hypothesis.internal.conjecture import engine
    from hypothesis.strategies._internal import collections
    from hypothesis.strategies._internal import core as strategies_core
    from schemathesis.generation.hypothesis import setup

    patched = [
        (core, "RepresentationPrinter"),
        (core, "BUFFER_SIZE"),
        (engine, "BUFFER_SIZE"),
        (collections, "BUFFER_SIZE"),
        (strategies_core, "is_first_param_referenced_in_function"),
        (entropy, "register_random"),
    ]
    was = [(module, name, getattr(module, name)) for module, name in patched]
    try:
        yield
    finally:
        for module, name, value in was:
            setattr(module, name, value)
        setup._is_patched = False  # type: ignore[attr-defined]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rate limits out of the way: a fuzzer is one address sending many (and many bad) links."""
    unlimited = "1000000/minute"
    return settings.model_copy(
        update={
            name: unlimited
            for name in ("CANDIDATE_RATE_LIMIT", "BAD_LINK_RATE_LIMIT", "BAD_TOKEN_RATE_LIMIT")
            if hasattr(settings, name)
        }
    )


@dataclass
class Findings:
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (operation, kind) -> example
    advisories: dict[tuple[str, str], str] = field(default_factory=dict)

    def note(self, into: dict[tuple[str, str], str], operation: str, kind: str, example: str) -> None:
        into.setdefault((operation, kind), example)

    def report(self, entries: dict[tuple[str, str], str]) -> str:
        return "\n\n".join(f"== {op}: {kind}\n{example}" for (op, kind), example in sorted(entries.items()))


def _kind(failure: Failure, status: int) -> str:
    return f"{failure.title} [{status}]"


def _wire(case: schemathesis.Case[Any], headers: dict[str, str]) -> requests.PreparedRequest:
    """The request as it goes on the wire (schemathesis serialises it for `requests`)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    allowed = ("method", "url", "headers", "params", "data", "json", "files", "cookies", "auth")
    return requests.Request(**{k: v for k, v in kwargs.items() if k in allowed}).prepare()


async def _send(http: httpx.AsyncClient, prepared: requests.PreparedRequest) -> httpx.Response:
    body = prepared.body
    content = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else b""
    headers = {
        name: value if isinstance(value, str) else value.decode("latin-1")
        for name, value in prepared.headers.items()
        if name.lower() != "content-length"  # httpx counts the body itself
    }
    return await http.request(
        str(prepared.method), str(prepared.url), headers=headers, content=content, timeout=60
    )


def _strategies(
    operation: Any, real: dict[str, str], candidate: bool
) -> st.SearchStrategy[schemathesis.Case[Any]]:
    """Positive and negative cases, with path ids drawn at random and with real ones."""
    names = {p.name for p in operation.path_parameters}
    fixed = {name: value for name, value in real.items() if name in names}
    options = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        if fixed:
            options.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        if not candidate or not fixed:
            options.append(operation.as_strategy(generation_mode=mode))
    return st.one_of(options)


def _run_operation(
    operation: Any,
    strategy: st.SearchStrategy[schemathesis.Case[Any]],
    headers: dict[str, str],
    call: Callable[[requests.PreparedRequest], httpx.Response],
    found: Findings,
) -> None:
    label = operation.label

    @hypothesis.settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        try:
            prepared = _wire(case, headers)
        except SerializationNotPossible:
            hypothesis.reject()
        found.cases += 1
        try:
            response = call(prepared)
        except Exception as error:  # noqa: BLE001 (raised through the ASGI transport: a 500 to a client)
            found.note(found.failures, label, f"server error: {type(error).__name__}", f"{error!r}")
            return
        found.statuses[response.status_code] = found.statuses.get(response.status_code, 0) + 1
        for checks, into in ((CHECKS, found.failures), (ADVISORY, found.advisories)):
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    example = (
                        f"{prepared.method} {prepared.url}\nbody: {prepared.body!r:.300}\n"
                        f"-> {response.status_code} {response.text[:300]}\n{failure.message[:600]}"
                    )
                    found.note(into, label, _kind(failure, response.status_code), example)

    run()


async def _invited(stack: Stack, pipeline: str) -> tuple[str, str]:
    job = await stack.create_job("Fuzzed role", pipeline=pipeline)
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [mail] = await stack.mailbox.wait_for(address, 1)
    return application["id"], token_from(mail.link())


@pytest.mark.usefixtures("hypothesis_as_it_was")
@pytest.mark.timeout(600)
# schemathesis' own strategies draw from `random` (Hypothesis warns; nothing of ours).
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_the_api_answers_fuzzed_requests_as_documented(stack: Stack) -> None:
    started = time.monotonic()
    job = await stack.create_job("Fuzzed job")
    staff_application, _ = await _invited(stack, "standard")
    _, token = await _invited(stack, "standard")
    real = {"job_id": job["id"], "application_id": staff_application, "token": token, "name": "standard"}

    served = await stack.http.get("/openapi.json")
    assert served.status_code == 200, served.text
    schema = schemathesis.openapi.from_dict(served.json())
    loop = asyncio.get_running_loop()

    def call(prepared: requests.PreparedRequest) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(_send(stack.http, prepared), loop).result(timeout=90)

    found = Findings()
    loaded = list(schema.get_all_operations())
    operations = [result.ok() for result in loaded if isinstance(result, Ok)]
    assert len(operations) == len(loaded), [result for result in loaded if not isinstance(result, Ok)]
    # Candidate operations first, then staff ones; last of each, what ends the application (a
    # deletion request withdraws it; an erasure empties it).
    operations.sort(
        key=lambda op: (
            not op.path.startswith("/api/v1/candidate"),
            op.path.endswith(("/deletion-request", "/erasure")),
        )
    )
    for operation in operations:
        candidate = operation.path.startswith("/api/v1/candidate/")
        headers = {} if candidate else dict(STAFF)
        strategy = _strategies(operation, real, candidate)
        await asyncio.to_thread(_run_operation, operation, strategy, headers, call, found)

    elapsed = time.monotonic() - started
    summary = (
        f"{len(operations)} operations, {found.cases} cases in {elapsed:.0f} s; statuses "
        f"{dict(sorted(found.statuses.items()))}"
    )
    advisories = (
        f"\nschema-valid requests refused:\n{found.report(found.advisories)}" if found.advisories else ""
    )
    print(f"{summary}{advisories}")  # noqa: T201  (shown with -s)
    assert not found.failures, f"{summary}\n\n{found.report(found.failures)}"


# ----------------------------------------------------------------------- what the fuzzer found


def test_every_operation_documents_its_errors_and_bounds_its_integers(
    settings: Settings, engine: Any
) -> None:
    """No FastAPI default 422 body (ours is {detail, errors}); every error answer has the error
    body; every integer parameter has both bounds (the database's integers are 64-bit)."""
    spec = create_app(settings, engine=engine).openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                if int(status) >= 400 and not (path == "/health" and status == "503"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"].rsplit("/", 1)[1] in ("ErrorBody", "InvalidRequestBody"), where
            if path.startswith(("/api/v1/", "/codec/")):
                staff = not path.startswith("/api/v1/candidate/")
                expected = {"401", "403", "429"} if staff else {"401", "410", "429"}
                assert expected <= set(operation["responses"]), where
            if "requestBody" in operation:
                assert {"413", "422"} <= set(operation["responses"]), where
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("type") == "integer":
                    assert {"minimum", "maximum"} <= set(parameter["schema"]), (where, parameter["name"])


async def test_an_offset_out_of_range_is_refused_before_the_database(stack: Stack) -> None:
    for offset in (-1, MAX_OFFSET + 1, 2**63, 2**64):
        response = await stack.http.get("/api/v1/applications", params={"offset": offset}, headers=STAFF)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "offset"
    response = await stack.http.get("/api/v1/applications", params={"offset": MAX_OFFSET}, headers=STAFF)
    assert response.status_code == 200, response.text
    assert response.json() == []


async def test_a_csv_that_is_not_utf8_is_refused_with_a_reason(stack: Stack) -> None:
    job = await stack.create_job()
    url = f"/api/v1/jobs/{job['id']}/invitations"
    latin1 = "name,email\nRenée Dupré,renee@example.com\n".encode("latin-1")
    as_csv = {"Content-Type": "text/csv"}
    for sent in ({"content": latin1}, {"content": b"\xc6\x7fGG\xf1"}, {"files": {"file": ("a.csv", latin1)}}):
        response = await stack.http.post(
            url, **sent, headers={**STAFF, **({} if "files" in sent else as_csv)}
        )
        assert response.status_code == 422, response.text
        assert "UTF-8" in response.json()["detail"]
    assert stack.mailbox.messages == []
