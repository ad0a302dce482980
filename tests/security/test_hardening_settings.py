"""Security review, Step 7 (ASVS L2): secrets that must be strong, cookies and transport in
production, what a job title can do to an email or a calendar file, and the README's word on
SameSite matching the code."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from activities.email import EmailActivities
from activities.email_text import ics_fold, ics_text
from api import csrf
from api.app import create_app
from api.deps import SESSION_COOKIE
from offhours import ROOT, accounts
from offhours.contracts import EmailRequest
from offhours.settings import Settings, SettingsError, load_settings, new_key
from tests.support.actors import unique_email
from tests.support.mail import Mailbox
from tests.support.records import application_for

GOOD_SECRET = "hardening-test-secret-key-0123456789abcdef"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": GOOD_SECRET,
    "PAYLOAD_KEYS": new_key("p1"),
    "MASTER_KEYS": new_key("m1"),
}
XSS = "</title><img src=x onerror=alert(1)>"
INJECTION = "Engineer\rATTENDEE:mailto:evil@example.com"


@pytest.fixture(autouse=True)
def _no_ambient_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What each test passes is all there is: no secret from the shell running the tests."""
    for name in ("SECRET_KEY", "ADMIN_TOKEN", "ENVIRONMENT"):
        monkeypatch.delenv(f"OFFHOURS_{name}", raising=False)


# ----------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("environment", ["test", "production"])
def test_secret_key_is_required_in_every_environment_but_development(environment: str) -> None:
    overrides = {**PRODUCTION, "ENVIRONMENT": environment, "SECRET_KEY": None}
    with pytest.raises(SettingsError) as error:
        load_settings(**overrides)
    message = str(error.value)
    assert "OFFHOURS_SECRET_KEY is required outside development" in message
    assert "secrets.token_urlsafe(32)" in message
    # Only development still runs on a random per-process key.
    assert len(load_settings(ENVIRONMENT="development").secret_key) >= 32


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("short-but-varied-0123456789", "at least 32 characters"),
        ("a" * 64, "distinct characters"),
        ("abcabcabc1" * 4, "distinct characters"),  # 40 characters, 4 distinct: a typed-in pattern
    ],
)
def test_a_short_or_low_entropy_secret_key_is_refused(environment: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(**{**PRODUCTION, "ENVIRONMENT": environment, "SECRET_KEY": value})
    assert "OFFHOURS_SECRET_KEY" in str(error.value)
    assert says in str(error.value)
    assert "secrets.token_urlsafe(32)" in str(error.value)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
@pytest.mark.parametrize("value", ["changeme", "x" * 40, "admin" * 8])
def test_admin_token_when_set_is_long_and_random(environment: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(**{**PRODUCTION, "ENVIRONMENT": environment, "ADMIN_TOKEN": value})
    message = str(error.value)
    assert "OFFHOURS_ADMIN_TOKEN" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message


def test_good_secrets_and_no_admin_token_are_accepted() -> None:
    settings = load_settings(**PRODUCTION, ADMIN_TOKEN="ops-bootstrap-token-0123456789abcdef")
    assert settings.secret_key == GOOD_SECRET
    assert load_settings(**{**PRODUCTION, "ENVIRONMENT": "test"}).ADMIN_TOKEN is None


def test_secret_key_is_not_made_up_for_settings_copied_past_validation() -> None:
    copied = load_settings(ENVIRONMENT="development").model_copy(update={"ENVIRONMENT": "test"})
    with pytest.raises(SettingsError, match="OFFHOURS_SECRET_KEY"):
        _ = copied.secret_key


# ----------------------------------------------------------------------------- cookies, HSTS


def test_cookies_are_secure_in_production_whatever_public_url_says() -> None:
    assert load_settings(**PRODUCTION, PUBLIC_URL="http://jobs.internal").secure_cookies
    assert load_settings(**PRODUCTION, PUBLIC_URL="https://jobs.example.org").secure_cookies
    test = {**PRODUCTION, "ENVIRONMENT": "test"}
    assert load_settings(**test, PUBLIC_URL="https://jobs.example.org").secure_cookies
    assert not load_settings(**test, PUBLIC_URL="http://offhours.test").secure_cookies


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of a response, by cookie name (the whole header, attributes and all)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0].strip()] = header
    return found


def attributes(header: str) -> dict[str, str]:
    cookie = SimpleCookie()
    cookie.load(header)
    [morsel] = cookie.values()
    return {key: str(morsel[key]) for key in morsel if morsel[key]}


PASSWORD = "a password long enough"


async def sign_in(
    app_settings: Settings, engine: Engine
) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
    """The staff sign-in page, the sign-in itself and a page that does not exist, on an app run with
    these settings; cookies are carried by hand (httpx would keep a Secure one off http)."""
    email = unique_email()
    with Session(engine) as session:
        accounts.create_user(session, email, "Rita", "recruiter", "ana", PASSWORD)
        session.commit()
    app = create_app(app_settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=app_settings.PUBLIC_URL) as http:
        page = await http.get("/staff/login", headers={"Accept": "text/html"})
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert page.status_code == 200, page.text
        assert token is not None, page.text
        cookie = set_cookies(page)[csrf.COOKIE].split(";", 1)[0]
        signed_in = await http.post(
            "/staff/login",
            data={"csrf_token": token[1], "email": email, "password": PASSWORD, "next": "/staff"},
            headers={"Cookie": cookie},
        )
        assert signed_in.status_code == 303, signed_in.text
        missing = await http.get("/no-such-page")
    return page, signed_in, missing


async def test_production_cookies_are_secure_and_every_response_has_hsts(
    settings: Settings, engine: Engine
) -> None:
    production = settings.model_copy(
        update={"ENVIRONMENT": "production", "PUBLIC_URL": "http://jobs.internal"}
    )
    page, signed_in, missing = await sign_in(production, engine)
    assert "secure" in attributes(set_cookies(page)[csrf.COOKIE])
    assert "secure" in attributes(set_cookies(signed_in)[SESSION_COOKIE])
    for response in (page, signed_in, missing):
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_outside_production_on_http_neither_secure_cookies_nor_hsts(
    settings: Settings, engine: Engine
) -> None:
    assert settings.PUBLIC_URL.startswith("http://")
    page, signed_in, missing = await sign_in(settings, engine)
    assert "secure" not in attributes(set_cookies(page)[csrf.COOKIE])
    assert "secure" not in attributes(set_cookies(signed_in)[SESSION_COOKIE])
    assert all("strict-transport-security" not in r.headers for r in (page, signed_in, missing))


# ----------------------------------------------------------------------------- README on SameSite


def readme_samesite() -> tuple[str, str]:
    """What the README says of the CSRF cookie and of the staff session cookie."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    csrf_says = re.search(r"CSRF token \(HMAC of a SameSite=(\w+) cookie", readme)
    session_says = re.search(r"SameSite=(\w+) session cookie", readme)
    assert csrf_says, "the README no longer says which SameSite the cookies use"
    assert session_says, "the README no longer says which SameSite the cookies use"
    return csrf_says[1], session_says[1]


async def test_set_cookie_samesite_is_what_the_readme_says(settings: Settings, engine: Engine) -> None:
    csrf_says, session_says = readme_samesite()
    page, signed_in, _ = await sign_in(settings, engine)
    assert attributes(set_cookies(page)[csrf.COOKIE])["samesite"].lower() == csrf_says.lower()
    assert attributes(set_cookies(signed_in)[SESSION_COOKIE])["samesite"].lower() == session_says.lower()
    # The candidate portal's CSRF cookie comes from the same function, on its own path.
    portal = Response()
    csrf.set_cookie(portal, settings, "v" * 43)
    header = portal.headers["set-cookie"]
    assert attributes(header)["samesite"].lower() == csrf_says.lower()
    assert "Path=/c/" in header


# ----------------------------------------------------------------------------- email, calendar


def booked(application_id: str, title: str = "Interview", location: str = "Video call") -> EmailRequest:
    slot = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    return EmailRequest(
        application_id,
        f"slot-confirmed-{uuid.uuid4().hex[:6]}",
        "slot_confirmed",
        extra={"slot": slot.isoformat(), "duration_minutes": "30", "title": title, "location": location},
        attach_ics=True,
    )


async def test_a_job_title_cannot_break_out_of_the_email_html(
    settings: Settings, engine: Engine, mailbox: Mailbox
) -> None:
    email = EmailActivities(engine, settings)
    request = booked(application_for(engine, XSS))
    rendered = email.render(request)
    await email.deliver(email.build(rendered, email.message_id(request)))
    [mail] = await mailbox.wait_for(rendered.recipient, 1)
    assert "<img" not in mail.html
    assert "</title><img" not in mail.html
    assert "&lt;/title&gt;&lt;img src=x onerror=alert(1)&gt;" in mail.html  # shown, as text
    assert mail.html.count("</title>") == 1
    # Plain text keeps the title as typed: the subject header and the text part.
    assert XSS in mail.subject
    assert mail.subject.startswith(f"Confirmed: Interview for {XSS}, ")
    assert XSS in mail.text
    # The body's text is escaped once, not twice.
    assert "&amp;lt;" not in mail.html


def test_subject_header_takes_no_line_break(settings: Settings, engine: Engine) -> None:
    email = EmailActivities(engine, settings)
    request = booked(application_for(engine, "Engineer\r\nBcc: evil@example.com"), title="Call\rX-Evil: 1")
    subject = email.render(request).subject
    assert "\r" not in subject
    assert "\n" not in subject
    assert subject.startswith("Confirmed: Call X-Evil: 1 for Engineer Bcc: evil@example.com, ")


def calendar_lines(ics: str) -> list[str]:
    """The physical lines of a calendar file, cut at every kind of line break a client might honour."""
    return re.split(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]", ics)


def test_no_text_value_can_start_a_calendar_property(settings: Settings, engine: Engine) -> None:
    email = EmailActivities(engine, settings)
    request = booked(application_for(engine, INJECTION), title=INJECTION, location="Room 1\r\nATTENDEE:x")
    rendered = email.render(request)
    assert rendered.ics is not None
    lines = calendar_lines(rendered.ics)
    assert not [line for line in lines if line.startswith("ATTENDEE:")], lines
    attendees = [line for line in lines if line.startswith("ATTENDEE")]
    assert attendees == [f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{rendered.recipient}"]
    # The title is still there, its line break written as \n (RFC 5545 TEXT).
    unfolded = rendered.ics.replace("\r\n ", "")
    escaped = "Engineer\\nATTENDEE:mailto:evil@example.com"
    assert f"SUMMARY:{escaped} - {escaped}" in unfolded
    assert "LOCATION:Room 1\\nATTENDEE:x" in unfolded


def test_calendar_text_is_escaped_and_lines_are_folded_at_75_octets() -> None:
    assert ics_text("a\\b;c,d\ne\rf\r\ng") == "a\\\\b\\;c\\,d\\ne\\nf\\ng"
    assert ics_text("bell\x07 and tab\t") == "bell and tab\t"
    line = "SUMMARY:" + "é" * 60 + "x" * 100
    folded = ics_fold(line)
    parts = folded.split("\r\n")
    assert all(len(part.encode()) <= 75 for part in parts), [len(p.encode()) for p in parts]
    assert all(part.startswith(" ") for part in parts[1:])
    assert "".join(part.removeprefix(" ") if i else part for i, part in enumerate(parts)) == line
    assert ics_fold("SHORT:line") == "SHORT:line"


def test_a_long_title_gives_folded_calendar_lines(settings: Settings, engine: Engine) -> None:
    title = "Senior Staff Platform Engineer, Developer Experience and Build Infrastructure (Lisboa)"
    rendered = EmailActivities(engine, settings).render(booked(application_for(engine, title)))
    assert rendered.ics is not None
    assert all(len(line.encode()) <= 75 for line in rendered.ics.split("\r\n"))
    assert "Senior Staff Platform Engineer\\, Developer Experience" in rendered.ics.replace("\r\n ", "")
