"""`standard`: invite, a one-way interview, one reviewer's scorecard, the recruiter's decision."""

from pipelines.base import Pipeline
from pipelines.stages import DAY, Criterion, Decision, Interview, Invite, Question, Reminders, Review

STANDARD = Pipeline(
    name="standard",
    title="Standard one-way interview",
    stages=(
        Invite(deadline=7 * DAY, reminders=Reminders(before_deadline=(3 * DAY, 1 * DAY))),
        Interview(
            questions=(
                Question(id="motivation", prompt="Why does this role interest you?"),
                Question(
                    id="experience",
                    prompt="Tell us about a piece of work you are proud of and your part in it.",
                ),
                Question(
                    id="cv",
                    prompt="Upload your CV or a work sample (PDF, image or text).",
                    type="file",
                    required=False,
                ),
            )
        ),
        Review(
            pool="default",
            reviewers=1,
            criteria=(
                Criterion(
                    "communication",
                    "Communication",
                    ("Hard to follow", "Some gaps", "Clear", "Clear and concise", "Compelling and precise"),
                ),
                Criterion(
                    "relevant_experience",
                    "Relevant experience",
                    (
                        "None shown",
                        "Loosely related",
                        "Related",
                        "Directly relevant",
                        "Directly relevant, with results",
                    ),
                ),
                Criterion(
                    "motivation",
                    "Motivation",
                    (
                        "None stated",
                        "Generic",
                        "Specific to the role",
                        "Specific and informed",
                        "Specific, informed, tested",
                    ),
                ),
            ),
        ),
        Decision(),
    ),
)
