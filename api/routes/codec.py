"""The codec endpoint, in the shape Temporal's web UI and CLI call (`--codec-endpoint`): ops and
auditors see decrypted payloads there; everyone else sees ciphertext.

`POST /codec/decode` and `POST /codec/encode` take and answer `{"payloads": [{"metadata": {k: base64},
"data": base64}]}`. The UI calls them from the browser, from its own origin (TEMPORAL_UI_ORIGIN), with
the staff session cookie ("include cross-origin credentials") or a bearer token: CORS answers that
origin only, with credentials allowed (error answers too, so the UI can show a 401 or 403).

The session cookie is SameSite=Lax: the browser sends it on the UI's fetch when the UI and the API
are the same site (127.0.0.1:8233 and 127.0.0.1:8000 are; localhost and 127.0.0.1 are not), with
"include cross-origin credentials" turned on in the UI's codec settings. Across sites, use a token.
No CSRF token is asked for here: the endpoint changes nothing, and CORS answers the UI's origin only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from api.deps import SettingsDep, StaffDep
from api.errors import STAFF_ERRORS, Unprocessable, errors
from offhours.codec import CodecError, _payload_from_json, _payload_to_json, codec_for
from offhours.settings import Settings

router = APIRouter(prefix="/codec", tags=["audit"], responses=STAFF_ERRORS)
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


Base64 = Annotated[str, Field(json_schema_extra={"format": "byte"})]


class PayloadJson(BaseModel):
    metadata: dict[str, Base64] = Field(description="Each value base64")
    data: Base64 = ""


class PayloadsBody(BaseModel):
    payloads: list[PayloadJson]


CODEC_DOC = {
    "requestBody": {
        "required": True,
        # The component is there: the routes answer the same shape (response_model).
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PayloadsBody"}}},
    }
}


def allowed_origin(settings: Settings, request: Request) -> str | None:
    origin = request.headers.get("origin")
    allowed = {o.strip().rstrip("/") for o in settings.TEMPORAL_UI_ORIGIN.split(",") if o.strip()}
    return origin if origin and origin.rstrip("/") in allowed else None


def cors_headers(settings: Settings, request: Request) -> dict[str, str]:
    origin = allowed_origin(settings, request)
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


@router.options("/{operation}", include_in_schema=False)
def preflight(operation: str, request: Request, settings: SettingsDep) -> Response:  # noqa: ARG001 (the path names the operation)
    return Response(status_code=204, headers=cors_headers(settings, request))


async def _convert(request: Request, settings: Settings, decode: bool) -> JSONResponse:
    try:
        body = PayloadsBody.model_validate_json(await request.body())
        payloads = [_payload_from_json(p.model_dump()) for p in body.payloads]
    except (ValidationError, ValueError, KeyError, TypeError):
        raise Unprocessable('send {"payloads": [{"metadata": {...}, "data": "<base64>"}]}') from None
    codec = codec_for(settings)
    try:
        converted = await (codec.decode(payloads) if decode else codec.encode(payloads))
    except CodecError as error:
        raise Unprocessable(str(error)) from None
    return JSONResponse(
        {"payloads": [_payload_to_json(p) for p in converted]}, headers=cors_headers(settings, request)
    )


@router.post(
    "/decode",
    summary="Decrypt payloads (Temporal codec server shape); ops and auditors",
    response_model=PayloadsBody,
    responses=errors(413, 422),
    openapi_extra=CODEC_DOC,
)
async def decode(request: Request, settings: SettingsDep, _staff: StaffDep) -> JSONResponse:
    return await _convert(request, settings, decode=True)


@router.post(
    "/encode",
    summary="Encrypt payloads (Temporal codec server shape); ops and auditors",
    response_model=PayloadsBody,
    responses=errors(413, 422),
    openapi_extra=CODEC_DOC,
)
async def encode(request: Request, settings: SettingsDep, _staff: StaffDep) -> JSONResponse:
    return await _convert(request, settings, decode=False)
