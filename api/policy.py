"""Who may call what: one table for every route of the application, checked on every request.

Staff routes name the roles allowed; a route missing from the table is refused to everyone (and a
test enumerates the application's routes, so a new route without a policy fails the suite). Candidate
routes are authorised by their signed link instead, the signed file download by its signature.
"""

from __future__ import annotations

from typing import Final

PUBLIC: Final = "public"  # no credentials: health, static files
LINK: Final = "candidate-link"  # the candidate's signed, expiring link
SIGNED: Final = "signed-url"  # a short-lived URL signed by the server
DEVELOPMENT: Final = "development"  # only mounted when ENVIRONMENT=development

OPS, RECRUITER, REVIEWER, AUDITOR = "ops", "recruiter", "reviewer", "auditor"
ROLES: Final = (OPS, RECRUITER, REVIEWER, AUDITOR)
READ_ALL = frozenset({OPS, RECRUITER, AUDITOR})
MANAGE = frozenset({OPS, RECRUITER})
OPS_ONLY = frozenset({OPS})
REVIEW = frozenset({OPS, RECRUITER, REVIEWER})
AUDIT = frozenset({OPS, AUDITOR})

A = "/api/v1/applications/{application_id}"
ANALYTICS = ("funnel", "stages", "questions", "reminders", "reviewers", "agreement", "adverse-impact")
POLICY: Final[dict[tuple[str, str], frozenset[str] | str]] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # jobs and pipelines
    ("POST", "/api/v1/jobs"): MANAGE,
    ("GET", "/api/v1/jobs"): READ_ALL,
    ("GET", "/api/v1/jobs/{job_id}"): READ_ALL,
    ("POST", "/api/v1/jobs/{job_id}/members"): MANAGE,
    ("POST", "/api/v1/jobs/{job_id}/invitations"): MANAGE,
    ("GET", "/api/v1/pipelines"): frozenset(ROLES),
    ("GET", "/api/v1/pipelines/{name}"): frozenset(ROLES),
    # applications
    ("POST", "/api/v1/applications"): MANAGE,
    ("GET", "/api/v1/applications"): READ_ALL,
    ("GET", "/api/v1/scorecards"): READ_ALL,
    ("GET", A): READ_ALL,
    ("POST", f"{A}/scorecards"): REVIEW,
    ("GET", f"{A}/review"): REVIEW,
    ("POST", f"{A}/decision"): MANAGE,
    ("POST", f"{A}/withdraw"): MANAGE,
    ("POST", f"{A}/extension"): MANAGE,
    ("POST", f"{A}/deadline"): MANAGE,
    ("POST", f"{A}/slots"): MANAGE,
    ("POST", f"{A}/feedback/release"): MANAGE,
    ("POST", f"{A}/stages/{{stage_id}}/outcome"): MANAGE,
    ("GET", f"{A}/messages"): READ_ALL,
    ("GET", f"{A}/history"): AUDIT,
    ("GET", f"{A}/replay"): AUDIT,
    ("GET", f"{A}/timeline"): AUDIT,
    ("POST", f"{A}/messages"): MANAGE,
    ("GET", f"{A}/answers/{{question_id}}/file"): frozenset(ROLES),
    # privacy: legal holds and erasure are for ops; auditors may see the holds
    ("POST", f"{A}/legal-hold"): OPS_ONLY,
    ("DELETE", f"{A}/legal-hold"): OPS_ONLY,
    ("GET", f"{A}/legal-hold"): AUDIT,
    ("POST", f"{A}/erasure"): OPS_ONLY,
    # analytics: read-only; recruiters see their jobs, reviewers their own review load only
    **{("GET", f"/api/v1/analytics/{m}"): READ_ALL for m in ANALYTICS if m != "reviewers"},
    ("GET", "/api/v1/analytics/reviewers"): frozenset(ROLES),
    ("GET", "/staff/analytics"): READ_ALL,
    # webhooks: endpoints, their secrets and deliveries are for ops
    ("POST", "/api/v1/webhooks"): OPS_ONLY,
    ("GET", "/api/v1/webhooks"): OPS_ONLY,
    ("GET", "/api/v1/webhooks/{webhook_id}"): OPS_ONLY,
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): OPS_ONLY,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): OPS_ONLY,
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): OPS_ONLY,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): OPS_ONLY,
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): OPS_ONLY,
    ("GET", "/staff/webhooks"): OPS_ONLY,
    ("POST", "/staff/webhooks"): OPS_ONLY,
    ("GET", "/staff/webhooks/{webhook_id}"): OPS_ONLY,
    ("POST", "/staff/webhooks/{webhook_id}"): OPS_ONLY,
    ("POST", "/staff/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): OPS_ONLY,
    # the Temporal UI's codec endpoint: decrypted payloads for ops and auditors only
    ("POST", "/codec/decode"): AUDIT,
    ("POST", "/codec/encode"): AUDIT,
    ("OPTIONS", "/codec/{operation}"): PUBLIC,
    ("GET", "/files/{answer_id}"): SIGNED,
    # staff pages (browser session)
    ("GET", "/staff/login"): PUBLIC,
    ("POST", "/staff/login"): PUBLIC,
    ("POST", "/staff/logout"): frozenset(ROLES),
    ("GET", "/staff"): frozenset(ROLES),
    ("GET", "/staff/reviews"): REVIEW,
    ("GET", "/staff/reviews/{application_id}"): REVIEW,
    ("POST", "/staff/reviews/{application_id}"): REVIEW,
    ("GET", "/staff/jobs"): READ_ALL,
    ("GET", "/staff/jobs/new"): MANAGE,
    ("POST", "/staff/jobs/new"): MANAGE,
    ("POST", "/staff/jobs/{job_id}/invite"): MANAGE,
    ("POST", "/staff/jobs/{job_id}/invitations"): MANAGE,
    ("GET", "/staff/jobs/{job_id}/invitations/{run_id}"): MANAGE,
    ("GET", "/staff/jobs/{job_id}/invitations/{run_id}/progress"): MANAGE,
    ("POST", "/staff/jobs/{job_id}/members"): MANAGE,
    ("GET", "/staff/users"): OPS_ONLY,
    ("POST", "/staff/users"): OPS_ONLY,
    ("POST", "/staff/users/{user_id}/role"): OPS_ONLY,
    ("POST", "/staff/users/{user_id}/disable"): OPS_ONLY,
    ("POST", "/staff/users/{user_id}/tokens"): OPS_ONLY,
    ("POST", "/staff/users/{user_id}/tokens/{token_id}/revoke"): OPS_ONLY,
    ("GET", "/staff/jobs/{job_id}"): READ_ALL,
    ("GET", "/staff/applications/{application_id}"): READ_ALL,
    ("GET", "/staff/applications/{application_id}/audit"): AUDIT,
    ("POST", "/staff/applications/{application_id}/decision"): MANAGE,
    ("POST", "/staff/applications/{application_id}/withdraw"): MANAGE,
    ("POST", "/staff/applications/{application_id}/extension"): MANAGE,
    ("POST", "/staff/applications/{application_id}/deadline"): MANAGE,
    ("POST", "/staff/applications/{application_id}/resend-invite"): MANAGE,
    ("POST", "/staff/applications/{application_id}/slots"): MANAGE,
    ("POST", "/staff/applications/{application_id}/stages/{stage_id}/outcome"): MANAGE,
    ("POST", "/staff/applications/{application_id}/feedback/release"): MANAGE,
    ("POST", "/staff/applications/{application_id}/messages"): MANAGE,
}


def rule_for(method: str, path: str) -> frozenset[str] | str | None:
    """The rule for a route template, or None when the route has none (refused)."""
    method = "GET" if method == "HEAD" else method
    if path.startswith("/static"):
        return PUBLIC
    if path.startswith(("/api/v1/candidate/", "/c/{token}")):
        return LINK
    if path.startswith("/dev/mailbox"):
        return DEVELOPMENT
    return POLICY.get((method, path))
