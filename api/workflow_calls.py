"""Calls from the API into application workflows, with their failures turned into HTTP errors."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import Session
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import idempotency
from api.errors import ApiError, Conflict, ServiceUnavailable, Unprocessable
from api.personal import forget, seal_personal
from offhours.contracts import CONFLICT, INVALID, ApplicationState
from offhours.models import Application

UPDATE_TIMEOUT_SECONDS = 30.0


async def update_application(
    client: Client,
    session: Session,
    application: Application,
    update: str,
    arg: Any = None,
    *,
    workflow_id: str | None = None,
    result_type: type = ApplicationState,
    closed_message: str | None = None,
) -> Any:
    """Run an update on the application's workflow (or one of its stage workflows); 409/422 when it
    refuses, 503 when unreachable.

    Sent with an Idempotency-Key, the update's id derives from it: a retry of a call whose update
    went through (its answer lost to a timeout, say) is given that update's outcome by Temporal,
    not a second update, for as long as Temporal keeps the workflow (its retention after it closes).
    """
    handle = client.get_workflow_handle(workflow_id or application.workflow_id)
    update_id = idempotency.update_id(update)
    # personal text goes by reference (the same one for a retry)
    arg, refs = seal_personal(session, application, arg, key=update_id)
    args = [] if arg is None else [arg]
    try:
        async with asyncio.timeout(UPDATE_TIMEOUT_SECONDS):
            return await handle.execute_update(update, args=args, id=update_id, result_type=result_type)
    except WorkflowUpdateFailedError as error:
        forget(session, refs)
        raise _refusal(error.cause, session, application) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            # Temporal answers these both for a closed workflow and for a running one that cannot
            # take an update now (its workflow task failing, say, while a worker restarts): only the
            # first is the application's answer.
            if await _running(handle):
                raise busy("the application's workflow cannot take the request right now") from None
            forget(session, refs)
            session.refresh(application)
            raise Conflict(
                closed_message or f"the application is {application.status} and its workflow has closed",
                status=application.status,
                stage=application.stage,
            ) from None
        raise busy(f"the workflow engine could not be reached ({error.message})") from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise busy("the application's workflow did not answer in time (is a worker running?)") from None


def busy(what: str) -> ServiceUnavailable:
    """503 with Retry-After: nothing was refused, the same call can be sent again."""
    return ServiceUnavailable(f"{what}; nothing was refused: send the same request again in a few seconds")


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        async with asyncio.timeout(5):
            description = await handle.describe()
    except RPCError as error:
        # Gone from Temporal (its retention ran out): closed long ago. Anything else: cannot tell,
        # and it is not known to have closed.
        return error.status != RPCStatusCode.NOT_FOUND
    except Exception:  # noqa: BLE001 (cannot tell: not known to have closed)
        return True
    return description.status == WorkflowExecutionStatus.RUNNING


def _refusal(cause: BaseException, session: Session, application: Application) -> ApiError:
    if isinstance(cause, ApplicationError) and cause.type == INVALID:
        return Unprocessable(cause.message)
    session.refresh(application)
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    if not (isinstance(cause, ApplicationError) and cause.type == CONFLICT):
        message = f"the application refused the request: {message}"
    return Conflict(message, status=application.status, stage=application.stage)
