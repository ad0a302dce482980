"""Steps of a candidate's journey on the standard pipeline, shared by the tests that walk it: an
invited candidate and their link, their answers, a reviewer's scorecard."""

from __future__ import annotations

from tests.support.actors import unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack

SCORECARD = {
    "overall_recommendation": "strong_yes",
    "ratings": {"communication": 5, "relevant_experience": 4, "motivation": 5},
    "notes": "Clear, concrete examples.",
}


async def invited(stack: Stack) -> tuple[str, str, str]:
    """A candidate invited to the standard pipeline: (application id, address, link token)."""
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [mail] = await stack.mailbox.wait_for(address, 1)
    return application["id"], address, token_from(mail.link())


async def answer_all(stack: Stack, token: str) -> None:
    """The candidate answers both questions of the standard pipeline's interview."""
    for question_id in ("motivation", "experience"):
        response = await stack.http.post(
            f"/api/v1/candidate/{token}/answers",
            json={"question_id": question_id, "text": f"My {question_id}."},
        )
        assert response.status_code == 200, response.text
