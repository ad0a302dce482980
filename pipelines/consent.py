"""What a candidate agrees to before anything is recorded, and the version of that wording.

The version is the sha256 of the exact text shown, stored with the consent's timestamp, so that
what someone agreed to can be shown later even after the wording changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.base import Pipeline
from pipelines.people import PEOPLE
from pipelines.stages import RECORDED, Review


@dataclass(frozen=True)
class ConsentText:
    recorded: list[str]
    seen_by: list[str]
    kept: list[str]

    @property
    def version(self) -> str:
        text = "\n".join(["recorded", *self.recorded, "seen_by", *self.seen_by, "kept", *self.kept])
        return hashlib.sha256(text.encode()).hexdigest()


def consent_text(pipeline: Pipeline, job_title: str, retention_days: int) -> ConsentText:
    kinds = sorted({q.type for q in pipeline.interview_questions() if q.type in RECORDED})
    media = " and ".join(
        {"video": "video (camera and microphone)", "audio": "audio (microphone)"}[k] for k in kinds
    )
    recorded = [
        f"Your answers to the recorded questions, as {media}." if media else "No question here is recorded.",
        "Your written answers and any files you upload.",
        "When you opened each question and when you answered it, so that time limits can be applied.",
        "The practice question is never stored or sent: it stays in your browser.",
    ]
    contact = PEOPLE.get(pipeline.contact or "")
    review = pipeline.first(Review)
    seen_by = [
        f"The hiring team for {job_title}" + (f", with {contact.name} as your contact." if contact else ".")
    ]
    if review is not None:
        blind = (
            " They see no name, email or photo of you other than in your recordings." if review.blind else ""
        )
        seen_by.append(f"{review.reviewers} reviewer(s) assigned to your application.{blind}")
    seen_by.append("Nobody else. Recordings are watched by people only: no software scores them.")
    days = pipeline.retention_days or retention_days
    kept = [
        f"Your recordings, answers, files and messages, and what reviewers write about you: until "
        f"{days} days after your application closes (a decision, a withdrawal or its deadline), then "
        "erased automatically: the encryption key that protects them is destroyed and they are deleted.",
        "Your name, email address and time zone: erased at the same time, unless another application "
        "of yours still needs them.",
        "Kept without your content, for the audit of the hiring process: that the application existed, "
        "its dates, its stages, the scores and the decision.",
        "Only a legal hold (a claim or an investigation) can keep your data longer; you are told if so.",
        "You can ask for deletion at any time from the privacy page of your link: it is carried out "
        "within 30 days at the latest, and you are told by email.",
    ]
    return ConsentText(recorded, seen_by, kept)
