"""Staff accounts: users with one role each, API tokens and browser sessions.

Secrets are never stored: API tokens and session cookies are random and kept as sha256 digests
(they carry 256 bits, so a fast digest is enough); passwords are hashed with scrypt from the standard
library (memory-hard, salted: N=2^17, r=8, p=1, about 128 MiB and half a second each), compared
in constant time. A password hashed at a lower cost is hashed again at the current one the next
time its owner signs in. The API runs the hash in a thread, a few at a time (`authenticate_async`),
so sign-ins never stall the event loop that serves candidates.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
import weakref
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, or_, select

from offhours.models import ApiToken, User, WebSession, new_id, utcnow

ROLES = ("ops", "recruiter", "reviewer", "auditor")
TOKEN_PREFIX = "oh_"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
SCRYPT_MAXMEM = 256 * 1024 * 1024  # 128 * r * N is 128 MiB at this cost; the default cap is 32 MiB
HASHING_AT_ONCE = 2  # concurrent sign-ins beyond this wait their turn (memory and cores)
HASHING_QUEUE = 8  # and beyond this many waiting, are told to try again
MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=32
    )
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(key).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, key = stored.split("$")
    candidate = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return hmac.compare_digest(candidate, base64.b64decode(key))


def needs_rehash(stored: str) -> bool:
    """Hashed at a lower cost than today's."""
    try:
        _, n, r, p, _salt, _key = stored.split("$")
        return (int(n), int(r), int(p)) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


@functools.cache
def _dummy_hash() -> str:
    """Hashed on first use, not at import: the work of a check when the email is unknown."""
    return hash_password(secrets.token_urlsafe(16))


def find_user(session: Session, who: str) -> User:
    """A user by id or email."""
    user = session.exec(select(User).where(or_(User.id == who, User.email == who.strip().lower()))).first()
    if user is None:
        raise AccountError(f"no user '{who}'")
    return user


def create_user(
    session: Session,
    email: str,
    name: str,
    role: str,
    person_id: str | None = None,
    password: str | None = None,
) -> User:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise AccountError(f"'{email[:100]}' is not an email address")
    if len(name.strip()) > 200 or (person_id is not None and len(person_id) > 64):
        raise AccountError("the name must be at most 200 characters, the directory id at most 64")
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise AccountError(f"a user with email {email} already exists")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = User(
        id=new_id("usr"),
        email=email,
        name=name.strip(),
        role=role,
        person_id=person_id,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)
    session.add(user)


def disable_user(session: Session, who: str) -> User:
    """Disable a user: their tokens and sessions stop working at once."""
    user = find_user(session, who)
    now = utcnow()
    user.disabled_at = user.disabled_at or now
    for token in session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None))
    ):
        token.revoked_at = now
        session.add(token)
    for web in session.exec(
        select(WebSession).where(WebSession.user_id == user.id, col(WebSession.revoked_at).is_(None))
    ):
        web.revoked_at = now
        session.add(web)
    session.add(user)
    return user


def create_token(session: Session, who: str, name: str) -> tuple[ApiToken, str]:
    """A new API token for a user; the plain token is returned once and never stored."""
    user = find_user(session, who)
    if user.disabled_at is not None:
        raise AccountError(f"user {user.email} is disabled")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=new_id("tok"), user_id=user.id, name=name.strip() or "token", token_hash=digest(plain)
    )
    session.add(token)
    session.flush()
    return token, plain


def revoke_token(session: Session, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no token '{token_id}'")
    token.revoked_at = token.revoked_at or utcnow()
    session.add(token)
    return token


def user_for_token(session: Session, plain: str) -> User | None:
    """The active user an API token belongs to, or None (unknown, revoked, user disabled)."""
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(plain))).first()
    if token is None or token.revoked_at is not None:
        return None
    user = session.get(User, token.user_id)
    if user is None or user.disabled_at is not None:
        return None
    token.last_used_at = utcnow()
    session.add(token)
    return user


def _judge(user: User | None, password: str) -> tuple[bool, str | None]:
    """All the hashing of one sign-in, and no database work: whether the password is this active
    user's, and its new hash when it was stored at a lower cost. Unknown users, and wrong passwords
    on a lower-cost hash, cost a current-cost hash too: the timing tells no account apart."""
    stored = user.password_hash if user is not None else None
    if user is None or stored is None:
        verify_password(password, _dummy_hash())
        return False, None
    ok = verify_password(password, stored)
    if not needs_rehash(stored):
        return ok and user.disabled_at is None, None
    if not ok:
        verify_password(password, _dummy_hash())
        return False, None
    return user.disabled_at is None, hash_password(password)


def _find_for_sign_in(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def _signed_in(session: Session, user: User | None, verdict: tuple[bool, str | None]) -> User | None:
    ok, new_hash = verdict
    if user is None or not ok:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
        session.add(user)
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = _find_for_sign_in(session, email)
    return _signed_in(session, user, _judge(user, password))


_SEMAPHORES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


_WAITING: weakref.WeakKeyDictionary[asyncio.Semaphore, int] = weakref.WeakKeyDictionary()


def _hashing() -> asyncio.Semaphore:
    """One semaphore per event loop (a semaphore belongs to the loop it first waited on)."""
    loop = asyncio.get_running_loop()
    if loop not in _SEMAPHORES:
        _SEMAPHORES[loop] = asyncio.Semaphore(HASHING_AT_ONCE)
    return _SEMAPHORES[loop]


class Busy(Exception):
    """Too many sign-ins are waiting for their password to be checked; try again shortly."""


async def authenticate_async(session: Session, email: str, password: str) -> User | None:
    """`authenticate` for the API: the database is read on the caller's thread, and its connection
    handed back before the wait; the hashing is done in a worker thread, a few at a time, with at
    most HASHING_QUEUE waiting (Busy beyond: a flood of sign-ins cannot hold every connection or
    every thread)."""
    user = _find_for_sign_in(session, email)
    session.commit()  # no pooled connection held while waiting for the hash
    semaphore = _hashing()
    if _WAITING.get(semaphore, 0) >= HASHING_QUEUE:
        raise Busy("too many sign-ins at once")
    _WAITING[semaphore] = _WAITING.get(semaphore, 0) + 1
    try:
        await semaphore.acquire()
    finally:
        _WAITING[semaphore] -= 1
    try:
        verdict = await asyncio.to_thread(_judge, user, password)
    finally:
        semaphore.release()
    return _signed_in(session, user, verdict)


def start_session(session: Session, user: User, lifetime: timedelta) -> tuple[WebSession, str]:
    plain = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    web = WebSession(
        id=new_id("ses"), user_id=user.id, token_hash=digest(plain), created_at=now, expires_at=now + lifetime
    )
    session.add(web)
    session.flush()
    return web, plain


def user_for_session(session: Session, plain: str) -> tuple[User, WebSession] | None:
    web = session.exec(select(WebSession).where(WebSession.token_hash == digest(plain))).first()
    if web is None or web.revoked_at is not None or web.expires_at <= datetime.now(UTC):
        return None
    user = session.get(User, web.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return user, web


def end_session(session: Session, web: WebSession) -> None:
    web.revoked_at = web.revoked_at or utcnow()
    session.add(web)


def _active_ops(session: Session) -> int:
    return len(session.exec(select(User.id).where(User.role == "ops", col(User.disabled_at).is_(None))).all())


def set_role(session: Session, who: str, role: str) -> User:
    """Give a user another role; never the last active ops user's (someone must manage staff)."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
    user = find_user(session, who)
    if user.role == "ops" and role != "ops" and user.disabled_at is None and _active_ops(session) <= 1:
        raise AccountError(f"{user.email} is the only active ops user; make another user ops first")
    user.role = role
    session.add(user)
    session.flush()
    return user


def disable_user_by(session: Session, who: str, by_user_id: str | None) -> User:
    """`disable_user` asked by a member of staff: never themselves, never the last active ops user."""
    user = find_user(session, who)
    if by_user_id is not None and user.id == by_user_id:
        raise AccountError("you cannot disable your own account; ask another ops user")
    if user.role == "ops" and user.disabled_at is None and _active_ops(session) <= 1:
        raise AccountError(f"{user.email} is the only active ops user; make another user ops first")
    return disable_user(session, user.id)
