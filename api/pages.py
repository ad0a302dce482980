"""Server-rendered pages (Jinja2 templates under templates/pages)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from activities.email import paragraphs
from offhours import TEMPLATES_DIR

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["paragraphs"] = paragraphs  # the same plain-text-to-HTML as in emails
# Each form rendered carries its own Idempotency-Key (api/idempotency/): a form sent twice (a
# double click, a reload that posts again, a retry after a dropped connection) is done once.
templates.env.globals["idempotency_key"] = lambda: uuid.uuid4().hex


def render_page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)
