"""`standard`: invite, a one-way interview, one reviewer's scorecard, the recruiter's decision."""

from pipelines.base import DAY, InterviewStage, InviteStage, Pipeline, Question, ReviewStage

STANDARD = Pipeline(
    name="standard",
    title="Standard one-way interview",
    invite=InviteStage(deadline_seconds=7 * DAY, reminders_before_deadline_seconds=(3 * DAY, 1 * DAY)),
    interview=InterviewStage(
        questions=(
            Question(id="motivation", prompt="Why does this role interest you?", type="text"),
            Question(
                id="experience",
                prompt="Tell us about a piece of work you are proud of and your part in it.",
                type="text",
            ),
            Question(
                id="cv",
                prompt="Upload your CV or a work sample (PDF, image or text).",
                type="file",
                required=False,
            ),
        )
    ),
    review=ReviewStage(criteria=("communication", "relevant_experience", "motivation")),
)
