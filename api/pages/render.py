"""How pages are rendered: Jinja2 templates under templates/pages, and what frames every page: a
staff page (who is signed in, the session's CSRF token) and a portal page (the link, the view)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from activities.email_text import paragraphs
from api import csrf
from api.deps import SESSION_COOKIE, CandidateDep, Principal, SessionDep, SettingsDep, staff_csrf_token
from api.schemas import CandidateView
from api.services.candidate.view import WorkflowView, candidate_view, pipeline_of, workflow_state
from offhours import TEMPLATES_DIR
from offhours.models import Application, Job
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from pipelines.consent import consent_text
from pipelines.people import PEOPLE

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["paragraphs"] = paragraphs  # the same plain-text-to-HTML as in emails
# Each form rendered carries its own Idempotency-Key (api/idempotency/): a form sent twice (a
# double click, a reload that posts again, a retry after a dropped connection) is done once.
templates.env.globals["idempotency_key"] = lambda: uuid.uuid4().hex


def render_page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def staff_page(
    request: Request,
    settings: Settings,
    staff: Principal | None,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A staff page (templates/pages/staff/): who is signed in, and their session's CSRF token."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return render_page(
        request,
        f"pages/staff/{template}",
        {
            "staff": staff,
            "csrf_token": staff_csrf_token(settings, cookie) if cookie else "",
            "person": PEOPLE.get(staff.person_id or "") if staff else None,
            **context,
        },
        status_code=status_code,
    )


# ------------------------------------------------------------------------ the candidate portal

STATUS_TEXT = {
    "invited": "open",
    "in_progress": "in progress",
    "submitted": "submitted: your answers are with the team",
    "in_review": "being reviewed",
    "awaiting_decision": "waiting for a decision",
    "approved": "successful",
    "rejected": "closed: not successful this time",
    "expired": "closed: the deadline passed",
    "withdrawn": "withdrawn",
}


class Portal:
    """What every portal page needs: the link, the view, the CSRF token, and how to render."""

    def __init__(
        self, token: str, request: Request, application: Application, session: Any, settings: Settings
    ) -> None:
        self.token = token
        self.request = request
        self.application = application
        self.session = session
        self.settings = settings
        self.base = f"/c/{token}"
        self.csrf_cookie, self.new_cookie = csrf.csrf_value(request)
        self._workflow: WorkflowView | None = None
        self._asked = False

    def refresh(self) -> None:
        """After a change: the next view asks the workflow again."""
        self._asked = False

    async def workflow(self) -> WorkflowView | None:
        """The workflow's own state and portal queries, asked once per request (None: unreachable)."""
        if not self._asked:
            self._workflow, self._asked = await workflow_state(self.request, self.application), True
        return self._workflow

    async def at(self) -> tuple[str, ApplicationStatus]:
        """The stage and status as the workflow has them (the read model hears of a new stage a
        moment later: a candidate who follows the email at once must not be told it is not open
        yet); the read model's when the workflow cannot be asked."""
        workflow = await self.workflow()
        if workflow is not None:
            return workflow.state.stage, ApplicationStatus(workflow.state.status)
        return self.application.stage, ApplicationStatus(self.application.status)

    async def view(self) -> CandidateView:
        return candidate_view(self.session, self.application, await self.workflow(), self.settings)

    def when(self, moment: datetime, zone: str) -> str:
        return moment.astimezone(ZoneInfo(zone)).strftime("%d %B %Y, %H:%M")

    async def page(
        self,
        template: str,
        current: str,
        view: CandidateView | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        view = view or await self.view()
        notice = context.pop("notice", None) or NOTICES.get(self.request.query_params.get("done", ""))
        response = render_page(
            self.request,
            f"pages/portal/{template}",
            {
                "view": view,
                "base": self.base,
                "current": current,
                "csrf_token": csrf.form_token(self.settings, self.csrf_cookie),
                "status_text": STATUS_TEXT.get(view.status.value, view.status.value),
                "when": lambda moment: self.when(moment, view.timezone),
                "notice": notice,
                "error": None,
                "field_error": None,
                **context,
            },
            status_code=status_code,
        )
        if self.new_cookie:
            csrf.set_cookie(response, self.settings, self.csrf_cookie)
        return response

    def redirect(self, path: str = "", done: str | None = None, anchor: str = "") -> RedirectResponse:
        url = self.base + path + (f"?done={done}" if done else "") + (f"#{anchor}" if anchor else "")
        return RedirectResponse(url, status_code=303)

    async def form(self) -> FormData:
        form = await self.request.form(max_files=0, max_fields=10)
        submitted = form.get(csrf.FIELD)
        csrf.verify(self.request, self.settings, submitted if isinstance(submitted, str) else None)
        return form

    def consent(self) -> Any:
        job = self.session.get(Job, self.application.job_id)
        assert job is not None
        return consent_text(pipeline_of(self.application), job.title, self.settings.RETENTION_DAYS)


NOTICES = {
    "consent": "Thank you. Try the practice question, or go straight to the questions.",
    "saved": "Your answer is saved.",
    "submitted": "Submitted. Your answers are with the team; we email you at each step.",
    "asked": "Sent. You will get the answer by email, and it will show here.",
    "extension": "Your request is recorded; the answer comes by email and shows on the overview.",
    "deletion": "Your request is recorded. We confirm by email.",
    "started": "The assessment has started: answer each question and save it, then submit.",
    "answer": "Your answer is saved.",
    "assessed": "Submitted: your assessment is done.",
    "booked": "Booked. The confirmation is on its way by email, with a calendar invitation.",
    "module": "Marked as done.",
    "identified": "Thank you. Your answer is kept apart from your application and only ever counted in totals.",
}


def _portal_of(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> Portal:
    return Portal(token, request, application, session, settings)


# A portal route's one parameter for its link: the application it names (checked and rate-limited by
# CandidateDep), its session and settings, and how to render (FastAPI resolves each of them once
# per request, so a route that also asks for one gets the same object).
PortalDep = Annotated[Portal, Depends(_portal_of)]
