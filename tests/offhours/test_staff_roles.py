"""Ops change a user's role and disable users, but never leave the product without an active ops
user, and never disable themselves."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from offhours import accounts


def test_a_role_changes_only_to_a_known_role_and_never_from_the_last_ops(engine: Engine) -> None:
    with Session(engine) as session:
        ops = accounts.create_user(session, "only-ops@example.com", "Olga", "ops")
        rita = accounts.create_user(session, "rita@example.com", "Rita", "recruiter")
        with pytest.raises(accounts.AccountError, match="role must be one of"):
            accounts.set_role(session, rita.id, "admin")
        with pytest.raises(accounts.AccountError, match="only active ops user"):
            accounts.set_role(session, ops.id, "auditor")
        assert accounts.set_role(session, rita.email, "ops").role == "ops"
        assert accounts.set_role(session, ops.id, "auditor").role == "auditor"  # Rita is ops now
        session.commit()


def test_nobody_disables_themselves_nor_the_last_active_ops_user(engine: Engine) -> None:
    with Session(engine) as session:
        ops = accounts.create_user(session, "ops-a@example.com", "Ana", "ops")
        other = accounts.create_user(session, "ops-b@example.com", "Bo", "ops")
        with pytest.raises(accounts.AccountError, match="your own account"):
            accounts.disable_user_by(session, ops.id, ops.id)
        assert accounts.disable_user_by(session, other.id, ops.id).disabled_at is not None
        with pytest.raises(accounts.AccountError, match="only active ops user"):
            accounts.disable_user_by(session, ops.id, None)
        reviewer = accounts.create_user(session, "rev@example.com", "Rey", "reviewer")
        _, plain = accounts.create_token(session, reviewer.id, "api")
        accounts.disable_user_by(session, reviewer.id, ops.id)
        assert accounts.user_for_token(session, plain) is None
