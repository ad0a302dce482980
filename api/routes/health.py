from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

router = APIRouter(tags=["health"])


class Healthy(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    temporal: Literal["ok"]


class Unhealthy(BaseModel):
    status: Literal["unavailable"]
    problems: dict[str, str] = Field(description="What is unreachable (database, temporal), and why")


@router.get(
    "/health",
    summary="200 when the database and Temporal are reachable, 503 otherwise",
    response_model=Healthy,
    responses={503: {"model": Unhealthy, "description": "The database or Temporal is unreachable"}},
)
async def health(request: Request) -> JSONResponse:
    problems: dict[str, str] = {}
    try:
        await asyncio.to_thread(_ping_database, request)
    except Exception as error:  # noqa: BLE001 (health reports any failure, it never raises)
        problems["database"] = f"unreachable: {error.__class__.__name__}: {error}"
    try:
        async with asyncio.timeout(5):
            client = await request.app.state.temporal.client()
            await client.service_client.check_health()
    except Exception as error:  # noqa: BLE001 (health reports any failure, it never raises)
        problems["temporal"] = f"unreachable: {error.__class__.__name__}: {error}".strip()
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "temporal": "ok"})


def _ping_database(request: Request) -> None:
    with request.app.state.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
