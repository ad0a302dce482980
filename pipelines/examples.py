"""Example pipelines for three kinds of hiring. Copy one to start your own."""

from pipelines.base import FaqEntry, Pipeline
from pipelines.stages import (
    DAY,
    HOUR,
    MINUTE,
    Assessment,
    CheckIn,
    Criterion,
    Custom,
    Decision,
    Extensions,
    Feedback,
    GradedQuestion,
    Interview,
    Invite,
    Module,
    Onboarding,
    Question,
    ReasonCode,
    Reminders,
    Review,
    Scheduling,
)

COMMUNICATION = Criterion(
    "communication",
    "Communication",
    (
        "Hard to follow",
        "Understandable with effort",
        "Clear",
        "Clear and well organised",
        "Clear, concise, adapted to the listener",
    ),
)
CUSTOMER_FOCUS = Criterion(
    "customer_focus",
    "Customer focus",
    (
        "Blames the customer",
        "Solves the ticket only",
        "Solves and explains",
        "Anticipates the next question",
        "Turns a complaint into trust",
    ),
    weight=2.0,
)

# A high-volume support role: short deadline, a recorded interview, an auto-graded assessment that
# ends the application on a fail, one reviewer with thresholds that skip the decision when clear.
SUPPORT_AGENT = Pipeline(
    name="support-agent",
    title="Customer support agent (high volume)",
    contact="ana",
    check_in=CheckIn(promised_response=3 * DAY, every=3 * DAY),
    faq=(
        FaqEntry("How long does this take?", "About 25 minutes: four short questions and a 20-minute quiz."),
        FaqEntry(
            "Can I redo a recording?", "The video question allows one take after 30 seconds of thinking time."
        ),
    ),
    stages=(
        Invite(
            deadline=5 * DAY,
            reminders=Reminders(before_deadline=(2 * DAY, 12 * HOUR)),
            extensions=Extensions(auto_grant=1 * DAY, max_total=3 * DAY),
        ),
        Interview(
            questions=(
                Question(
                    "angry_customer",
                    "A customer writes in capitals that their order is late. What do you reply?",
                    "video",
                    think_time=30,
                    answer_time_limit=90,
                    retakes=0,
                ),
                Question(
                    "why_support",
                    "Why do you want to work in support?",
                    "text",
                    answer_time_limit=10 * MINUTE,
                    max_length=2000,
                ),
                Question(
                    "shift",
                    "Which shifts can you work?",
                    "choice",
                    choices=("Mornings", "Afternoons", "Nights", "Any"),
                ),
            )
        ),
        Assessment(
            questions=(
                GradedQuestion(
                    "refund_window",
                    "Our refund window is 30 days. An order arrived 29 days ago. Refund?",
                    "choice",
                    "Yes",
                    choices=("Yes", "No"),
                ),
                GradedQuestion(
                    "tickets_per_hour", "You close 42 tickets in 6 hours. Tickets per hour?", "numeric", "7"
                ),
                GradedQuestion(
                    "escalation_team", "Which team handles payment disputes? (one word)", "exact", "billing"
                ),
                GradedQuestion(
                    "first_reply",
                    "Target first reply time, in minutes, for chat?",
                    "numeric",
                    "2",
                    tolerance=1,
                ),
            ),
            pass_mark=0.75,
            time_limit=20 * MINUTE,
            on_fail="reject",
            show_result=True,
        ),
        Review(
            pool="support",
            reviewers=1,
            criteria=(COMMUNICATION, CUSTOMER_FOCUS),
            sla=1 * DAY,
            reminder_before_sla=6 * HOUR,
            auto_advance_at=4.5,
            auto_reject_below=2.0,
        ),
        Decision(sla=2 * DAY, reminder_before_sla=1 * DAY, escalate_to="jo"),
    ),
)

SYSTEM_DESIGN = Criterion(
    "system_design",
    "System design",
    (
        "No structure",
        "Names components only",
        "Sound design, few trade-offs",
        "Sound design, explicit trade-offs",
        "Trade-offs quantified and tested against failure",
    ),
    weight=2.0,
)
CODE_QUALITY = Criterion(
    "code_quality",
    "Code quality",
    (
        "Does not run",
        "Runs, hard to read",
        "Readable and tested",
        "Idiomatic, well tested",
        "Exemplary: could be a reference",
    ),
)
COLLABORATION = Criterion(
    "collaboration",
    "Collaboration",
    (
        "Works alone only",
        "Cooperates when asked",
        "Shares and asks",
        "Raises others' work",
        "Shapes how the team works",
    ),
)

# A senior engineer: an assessment that informs reviewers, a blind three-reviewer panel combined by
# median, a live interview the candidate books, a reference check, and two of three named approvers.
SENIOR_BACKEND_ENGINEER = Pipeline(
    name="senior-backend-engineer",
    title="Senior backend engineer",
    contact="ruth",
    check_in=CheckIn(promised_response=5 * DAY, every=5 * DAY),
    stages=(
        Invite(
            deadline=10 * DAY,
            reminders=Reminders(before_deadline=(4 * DAY, 1 * DAY), after_invite=(2 * DAY,)),
            extensions=Extensions(auto_grant=3 * DAY, max_total=10 * DAY),
        ),
        Interview(
            questions=(
                Question(
                    "incident",
                    "Walk us through an incident you led: what broke, what you did, what changed after.",
                    "video",
                    answer_time_limit=5 * MINUTE,
                    retakes=2,
                ),
                Question("design_doc", "Upload a design document you wrote (redact what you must).", "file"),
                Question(
                    "tradeoff",
                    "Describe a trade-off you made between consistency and availability.",
                    "text",
                    max_length=5000,
                ),
            )
        ),
        Assessment(
            questions=(
                GradedQuestion(
                    "big_o",
                    "Worst-case lookups in a balanced binary search tree of 1,048,576 keys?",
                    "numeric",
                    "20",
                ),
                GradedQuestion(
                    "idempotent",
                    "Which HTTP method is not idempotent?",
                    "choice",
                    "POST",
                    choices=("GET", "PUT", "DELETE", "POST"),
                ),
                GradedQuestion(
                    "isolation",
                    "The default isolation level in PostgreSQL? (two words)",
                    "exact",
                    "read committed",
                ),
            ),
            pass_mark=0.66,
            time_limit=30 * MINUTE,
            on_fail="inform",
        ),
        Review(
            pool="eng",
            reviewers=3,
            criteria=(SYSTEM_DESIGN, CODE_QUALITY, COLLABORATION),
            combine="median",
            sla=3 * DAY,
            reminder_before_sla=1 * DAY,
        ),
        Scheduling(title="Technical interview with the team", duration_minutes=60, pick_within=5 * DAY),
        Custom(id="references", workflow="ReferenceCheck"),
        Decision(
            approvals_required=2,
            approvers=("kai", "ruth", "noor"),
            reason_codes=(
                ReasonCode("hire", "approve", "Strong hire", "approved"),
                ReasonCode("not_senior_yet", "reject", "Not yet at the senior level", "rejected"),
                ReasonCode("role_filled", "reject", "The role has been filled", "rejected"),
            ),
            sla=4 * DAY,
            reminder_before_sla=1 * DAY,
            escalate_to="lee",
        ),
        Custom(id="tell-hiring-manager", activity="notify_hiring_manager"),
    ),
)

LEARNING = Criterion(
    "learning",
    "Learning",
    (
        "No example of learning",
        "Learned when told",
        "Learned on their own",
        "Learned and applied it",
        "Learned, applied, taught others",
    ),
)

WELCOME = """Welcome to the team. For the length of the internship you have a buddy: a colleague who \
is not your manager and whom you can ask anything, however small. You meet them in your first week.

We work asynchronously: most questions go into the team's shared channel rather than into private \
messages, so that the answer helps the next person too. Write as if the reader has no context, and \
say what you need and by when.

Core hours are 10:00 to 15:00 in your time zone; outside them, nobody expects an answer from you. \
Put your days off in the team calendar as soon as you know them."""
SECURITY = """Your laptop is encrypted and locks after five minutes; keep it that way, and lock it \
yourself (Windows key + L, or Ctrl + Cmd + Q on a Mac) whenever you step away.

Use the password manager for every work account, with a different password each time, and turn \
on two-step sign-in wherever it is offered.

Customer data stays in the systems it lives in: never copy it to your own notes, a spreadsheet or \
a chat. If you are unsure whether something is sensitive, treat it as if it were and ask.

If you click a link you should not have, or lose a device, tell security@ at once. Reporting early \
is always right; nobody is blamed for it."""
FIRST_TASK = """Your first task is small on purpose: fix one of the issues labelled "good first \
issue" in the team's tracker. Your buddy helps you pick one on your first day.

1. Read the issue and write down, in a comment, what you think the change is. Ask if unsure.
2. Set up the project with the README's steps; note anything that was unclear, and fix the README \
as part of your change.
3. Make the change on a branch, with a test that fails before it and passes after.
4. Open a pull request and ask your buddy for a review. Expect questions: they are how we learn \
the code together, not a judgement of you.

When it is merged, tell the team in the shared channel what you changed and what you learned."""

# An internship: interview, a two-reviewer panel, a decision, written feedback that a recruiter
# edits before it goes out, and self-paced onboarding modules after the hire.
INTERNSHIP = Pipeline(
    name="internship",
    title="Summer internship",
    contact="jo",
    check_in=CheckIn(promised_response=7 * DAY, every=7 * DAY),
    faq=(FaqEntry("Do I need experience?", "No. We look at how you learn, not at what you already know."),),
    stages=(
        Invite(deadline=14 * DAY, reminders=Reminders(before_deadline=(7 * DAY, 2 * DAY))),
        Interview(
            questions=(
                Question("hello", "Introduce yourself in a minute.", "video", answer_time_limit=60),
                Question("learned", "Tell us about something you taught yourself.", "text", max_length=3000),
                Question(
                    "field",
                    "Which area interests you most?",
                    "choice",
                    choices=("Engineering", "Design", "Operations"),
                ),
            )
        ),
        Review(
            pool="early-careers",
            reviewers=2,
            criteria=(COMMUNICATION, LEARNING),
            sla=5 * DAY,
            reminder_before_sla=2 * DAY,
        ),
        Decision(sla=5 * DAY, reminder_before_sla=2 * DAY, escalate_to="ana"),
        Feedback(
            next_steps="Keep building small projects and share what you learn; we run this programme every year.",
            hold_for_edit=True,
        ),
        Onboarding(
            modules=(
                Module("welcome", "Welcome and how we work", due=3 * DAY, content=WELCOME),
                Module("security", "Security basics", due=7 * DAY, content=SECURITY),
                Module("first-task", "Your first task, step by step", due=14 * DAY, content=FIRST_TASK),
            ),
        ),
    ),
)
