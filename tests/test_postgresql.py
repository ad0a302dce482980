"""The product on PostgreSQL (the scale option): migrations, the whole path, concurrent duplicates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel
from temporalio.testing import WorkflowEnvironment

from offhours.db import make_engine
from offhours.settings import Settings
from tests.api import test_end_to_end, test_integration_api, test_refusals, test_webhooks
from tests.support.mail import Mailbox
from tests.support.postgres import fresh_schema, throwaway_postgres, unavailable_reason
from tests.support.receiver import running_receiver
from tests.support.stack import Stack, free_port, start_stack

reason = unavailable_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=reason or "")


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    with throwaway_postgres(free_port()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    return fresh_schema(postgres_server)


@pytest.fixture
async def pg_stack(
    dev_server: WorkflowEnvironment, settings: Settings, postgres_url: str, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    # webhooks go to a receiver on loopback in these tests
    pg_settings = settings.model_copy(update={"DATABASE_URL": postgres_url, "WEBHOOK_ALLOW_PRIVATE": True})
    engine = make_engine(postgres_url)
    try:
        async for stack in start_stack(dev_server, pg_settings, engine, mailbox):
            yield stack
    finally:
        engine.dispose()


def test_migrations_match_the_models_on_postgresql(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.dialect.name == "postgresql"
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == []


async def test_invite_to_approval_on_postgresql(pg_stack: Stack) -> None:
    await test_end_to_end.test_happy_path_invite_to_approval(pg_stack)


async def test_concurrent_duplicates_on_postgresql(pg_stack: Stack) -> None:
    await test_refusals.test_concurrent_duplicate_invites_start_exactly_one_application(pg_stack)


async def test_concurrent_decisions_on_postgresql(pg_stack: Stack) -> None:
    await test_refusals.test_concurrent_decisions_only_one_wins(pg_stack)


async def test_applications_walked_page_by_page_on_postgresql(pg_stack: Stack) -> None:
    await test_integration_api.test_250_applications_walked_page_by_page_none_missed_or_repeated_while_new_ones_arrive(
        pg_stack
    )


async def test_every_webhook_of_a_journey_on_postgresql(pg_stack: Stack) -> None:
    async with running_receiver() as receiver:
        await test_webhooks.test_every_event_of_a_journey_arrives_signed_in_order_without_personal_data(
            pg_stack, receiver
        )


async def test_a_webhook_retried_by_hand_on_postgresql(pg_stack: Stack) -> None:
    async with running_receiver() as receiver:
        await test_webhooks.test_a_disabled_endpoint_receives_nothing_until_enabled_and_a_delivery_can_be_retried(
            pg_stack, receiver
        )
