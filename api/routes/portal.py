"""The page a candidate's invite link opens. The full recording portal builds on this."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.errors import ApiError
from api.pages import render_page
from api.routes.candidate import application_for_token, candidate_view, notify_link_opened, workflow_state

router = APIRouter(tags=["candidate portal"], include_in_schema=False)


@router.get("/c/{token}", response_class=HTMLResponse)
async def landing(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    try:
        application = application_for_token(session, settings, token)
    except ApiError as error:
        return render_page(
            request, "pages/link_error.html", {"message": error.detail}, status_code=error.status_code
        )
    view = candidate_view(session, application, await workflow_state(request, application))
    await notify_link_opened(request, application)
    return render_page(request, "pages/candidate_landing.html", {"view": view})
