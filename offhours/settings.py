"""Settings read from the environment (prefix ``OFFHOURS_``) and validated at start.

Every secret comes from here; nothing secret is written in code. Outside development a missing
``SECRET_KEY`` stops the process with a message that names the variable.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "OFFHOURS_"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SettingsError(RuntimeError):
    """Raised when the environment holds invalid settings; the message names each variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    ENVIRONMENT: Environment = Environment.production
    TEMPORAL_ADDRESS: str = "127.0.0.1:7233"
    TEMPORAL_NAMESPACE: str = "default"
    TASK_QUEUE: str = "offhours"
    DATABASE_URL: str = "sqlite:///.offhours/offhours.db"
    SMTP_HOST: str = "127.0.0.1"
    SMTP_PORT: int = Field(default=1025, ge=1, le=65535)
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_TLS: Literal["none", "starttls", "tls"] = "none"
    SMTP_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    MAIL_FROM: str = "offhours <no-reply@offhours.localhost>"
    PUBLIC_URL: str = "http://127.0.0.1:8000"
    SECRET_KEY: str | None = None
    DATA_DIR: Path = Path(".offhours/data")
    ADMIN_TOKEN: str | None = None
    # Encryption keys, each list "keyid:base64-of-32-bytes,..." (the first encrypts, all decrypt, so
    # a key is rotated by putting a new one first). PAYLOAD_KEYS encrypt what Temporal stores;
    # MASTER_KEYS wrap each application's data key (crypto-shredding). Required outside development.
    PAYLOAD_KEYS: str | None = None
    MASTER_KEYS: str | None = None
    # The Temporal web UI's origin(s), allowed to call the codec endpoint from the browser.
    TEMPORAL_UI_ORIGIN: str = "http://127.0.0.1:8233"
    MAILBOX_DIR: Path = Path(".offhours/mailbox")
    # Candidate links stay readable this long after the application's deadline (status, feedback).
    CANDIDATE_LINK_GRACE_DAYS: int = Field(default=30, ge=0)
    # Uploads: a ceiling for any request, and a limit per question type (a question may set a lower one).
    MAX_UPLOAD_BYTES: int = Field(default=250 * 1024 * 1024, gt=0)
    MAX_VIDEO_BYTES: int = Field(default=250 * 1024 * 1024, gt=0)
    MAX_AUDIO_BYTES: int = Field(default=50 * 1024 * 1024, gt=0)
    MAX_FILE_BYTES: int = Field(default=20 * 1024 * 1024, gt=0)
    # The worker archives closed histories this often (0: off, when a cron job does it instead).
    ARCHIVE_EVERY_SECONDS: int = Field(default=300, ge=0)
    # A staff browser session lasts this long, then signs in again.
    STAFF_SESSION_HOURS: int = Field(default=12, ge=1, le=24 * 30)
    # How long recordings and answers are kept after the application closes (told to candidates).
    RETENTION_DAYS: int = Field(default=180, ge=1)
    # A candidate's own deletion request is carried out this many days after it is made, at the
    # latest (the law allows 30); ops may erase sooner, or put a legal hold on the application.
    ERASURE_REQUEST_DAYS: int = Field(default=30, ge=0, le=30)
    # Candidate-link endpoints, per client address: all requests, and links that fail to verify.
    CANDIDATE_RATE_LIMIT: str = "300/minute"
    BAD_LINK_RATE_LIMIT: str = "20/10 minutes"
    # Staff sign-in attempts: per account from one client address, per account from anywhere, and
    # per client address; then 429 until the window moves.
    LOGIN_RATE_LIMIT: str = "10/15 minutes"
    LOGIN_ACCOUNT_RATE_LIMIT: str = "50/hour"
    LOGIN_ADDRESS_RATE_LIMIT: str = "100/15 minutes"
    # Bearer tokens that are not valid, per client address.
    BAD_TOKEN_RATE_LIMIT: str = "30/10 minutes"
    # Proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed; the client
    # address of anyone else is the connection's own. Empty: no proxy is trusted.
    TRUSTED_PROXIES: str = ""
    # The largest request body taken at all (default: the largest upload and 1 MiB for the form
    # around it), and the largest JSON body of any API call.
    MAX_BODY_BYTES: int | None = Field(default=None, ge=1024)
    MAX_JSON_BYTES: int = Field(default=1024 * 1024, ge=1024)
    # Quotas per application, so one candidate link cannot flood staff mailboxes, the disk or a
    # workflow's history: questions to the contact (each one emails staff), uploads received (each
    # replaced file is removed, but each upload is received, inspected, sealed and recorded), and
    # takes of a recording whose pipeline sets no `retakes` (otherwise unlimited), per question.
    MAX_CONTACT_MESSAGES_PER_APPLICATION: int = Field(default=50, ge=1)
    MAX_UPLOADS_PER_APPLICATION: int = Field(default=60, ge=1)
    MAX_TAKES_PER_QUESTION: int = Field(default=10, ge=1)
    # A call sent with an Idempotency-Key: its answer is kept this long for a retry to be given
    # (the same call sent later runs again), and a claim of a call still running is taken over by a
    # retry after this many seconds (the process serving it was lost).
    IDEMPOTENCY_TTL_HOURS: int = Field(default=24, ge=1, le=24 * 30)
    IDEMPOTENCY_LEASE_SECONDS: int = Field(default=60, ge=5)
    # Outbound webhooks. Endpoints must be public https addresses (checked when registered and again
    # at each delivery); true allows plain http and loopback/private addresses, for development and
    # tests only (`make dev` sets it).
    WEBHOOK_ALLOW_PRIVATE: bool = False
    # Each delivery attempt waits this long for the receiver's answer.
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0, le=60)
    # An endpoint failing without a single success for this long is disabled and ops are emailed.
    WEBHOOK_DISABLE_AFTER_DAYS: float = Field(default=5.0, gt=0)
    # After a secret is rotated the previous one keeps signing this long (both signatures are sent).
    WEBHOOK_SECRET_OVERLAP_HOURS: int = Field(default=24, ge=0, le=24 * 7)
    # The worker starts delivery workflows for new events at least this often (and at once when an
    # activity on the same worker emitted them).
    WEBHOOK_DISPATCH_SECONDS: float = Field(default=2.0, gt=0)

    @field_validator("PUBLIC_URL")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                network = ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"'{part}' is not an IP address or network (e.g. 10.0.0.0/8)") from None
            if network.prefixlen == 0:
                raise ValueError(f"'{part}' trusts every address: name your proxies' addresses or network")
        return value

    @property
    def body_limit(self) -> int:
        return self.MAX_BODY_BYTES or self.MAX_UPLOAD_BYTES + 1024 * 1024

    @property
    def trusted_proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.TRUSTED_PROXIES.split(",")
            if p.strip()
        )

    @field_validator(
        "CANDIDATE_RATE_LIMIT",
        "BAD_LINK_RATE_LIMIT",
        "LOGIN_RATE_LIMIT",
        "LOGIN_ADDRESS_RATE_LIMIT",
        "LOGIN_ACCOUNT_RATE_LIMIT",
        "BAD_TOKEN_RATE_LIMIT",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError("must look like '300/minute' or '20/10 minutes'") from None
        return value

    @field_validator("PAYLOAD_KEYS", "MASTER_KEYS")
    @classmethod
    def _keys(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_keys(value)
        return value

    @field_validator("TEMPORAL_ADDRESS")
    @classmethod
    def _temporal_address(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("must be host:port, for example 127.0.0.1:7233")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        # Tests included: only development may run on a per-process random signing key.
        if not self.is_development and not self.SECRET_KEY:
            raise ValueError(f"{ENV_PREFIX}SECRET_KEY is required outside development; {MAKE_SECRET}")
        for name in ("SECRET_KEY", "ADMIN_TOKEN"):
            if value := getattr(self, name):
                check_secret(name, value)
        if Environment.production == self.ENVIRONMENT:
            for name in ("PAYLOAD_KEYS", "MASTER_KEYS"):
                if not getattr(self, name):
                    raise ValueError(f"{ENV_PREFIX}{name} is required outside development; {MAKE_KEY}")
        if (self.SMTP_USERNAME is None) != (self.SMTP_PASSWORD is None):
            raise ValueError(f"{ENV_PREFIX}SMTP_USERNAME and {ENV_PREFIX}SMTP_PASSWORD go together")
        return self

    @property
    def is_development(self) -> bool:
        return Environment.development == self.ENVIRONMENT

    @property
    def is_production(self) -> bool:
        return Environment.production == self.ENVIRONMENT

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry Secure in production whatever PUBLIC_URL says (TLS often ends at a proxy in
        front of an http:// address), and anywhere the public address is https."""
        return self.is_production or self.PUBLIC_URL.startswith("https://")

    def payload_keys(self) -> list[tuple[str, bytes]]:
        """Keys for the Temporal payload codec: (key id, 32 bytes), the first encrypts."""
        return parse_keys(self.PAYLOAD_KEYS) if self.PAYLOAD_KEYS else [_ephemeral_key("payload")]

    def master_keys(self) -> list[tuple[str, bytes]]:
        """Keys wrapping the per-application data keys: (key id, 32 bytes), the first wraps."""
        return parse_keys(self.MASTER_KEYS) if self.MASTER_KEYS else [_ephemeral_key("master")]

    @property
    def secret_key(self) -> str:
        """The signing key. In development (only) a missing key gets a per-process random one."""
        if self.SECRET_KEY:
            return self.SECRET_KEY
        if not self.is_development:  # settings copied past validation (model_copy) end up here
            raise SettingsError(f"{ENV_PREFIX}SECRET_KEY is required outside development; {MAKE_SECRET}")
        return _ephemeral_secret()


@lru_cache(maxsize=1)
def _ephemeral_secret() -> str:
    return secrets.token_urlsafe(32)


MAKE_KEY = (
    "make one with: python -c \"import base64,os; print('k1:' + base64.b64encode(os.urandom(32)).decode())\""
)
MAKE_SECRET = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
SECRET_MIN_LENGTH = 32
# A random 32-character key uses some 25 distinct characters; fewer than this is a typed-in pattern
# ("aaaa...", "abcabc...") whatever its length.
SECRET_MIN_DISTINCT = 10


def check_secret(name: str, value: str) -> None:
    """Refuse a secret that is short or visibly low-entropy; ValueError naming the variable."""
    if len(value) < SECRET_MIN_LENGTH:
        raise ValueError(
            f"{ENV_PREFIX}{name} must be at least {SECRET_MIN_LENGTH} characters (got {len(value)}); "
            f"{MAKE_SECRET}"
        )
    distinct = len(set(value))
    if distinct < SECRET_MIN_DISTINCT:
        raise ValueError(
            f"{ENV_PREFIX}{name} is too low-entropy: only {distinct} distinct characters "
            f"(at least {SECRET_MIN_DISTINCT} needed, a random value has far more); {MAKE_SECRET}"
        )


def new_key(key_id: str) -> str:
    """A fresh key entry, as PAYLOAD_KEYS and MASTER_KEYS list them."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def parse_keys(value: str) -> list[tuple[str, bytes]]:
    """'k2:base64,k1:base64' -> [(k2, 32 bytes), (k1, 32 bytes)]; ValueError saying what is wrong."""
    keys: list[tuple[str, bytes]] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id.strip():
            raise ValueError(f"each key is 'keyid:base64' (got an entry without a key id); {MAKE_KEY}")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"key '{key_id}' is not valid base64; {MAKE_KEY}") from None
        if len(key) != 32:
            raise ValueError(f"key '{key_id}' must be 32 bytes (AES-256), got {len(key)}; {MAKE_KEY}")
        if key_id in dict(keys):
            raise ValueError(f"key id '{key_id}' is listed twice")
        keys.append((key_id.strip(), key))
    if not keys:
        raise ValueError(f"no key given; {MAKE_KEY}")
    return keys


@lru_cache(maxsize=4)
def _ephemeral_key(purpose: str) -> tuple[str, bytes]:
    """Development and tests without configured keys: one random key per process and purpose."""
    return (f"ephemeral-{purpose}", secrets.token_bytes(32))


def describe_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"])
        name = f"{ENV_PREFIX}{loc}" if loc else "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if loc else message)
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
