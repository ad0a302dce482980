"""Every side effect of the workflows: database writes, email and webhooks."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from activities.applications import ApplicationActivities
from activities.custom import CustomStages
from activities.email import EmailActivities
from activities.privacy import PrivacyActivities
from activities.webhooks import WebhookActivities
from offhours.settings import Settings


def build_activities(engine: Engine, settings: Settings) -> list[Callable[..., Any]]:
    db = ApplicationActivities(engine, settings)
    privacy = PrivacyActivities(engine, settings)
    email = EmailActivities(engine, settings)
    custom = CustomStages(email)
    webhooks = WebhookActivities(engine, settings, email)
    return [
        db.record_status,
        db.record_link_opened,
        db.record_consent,
        db.save_answer,
        db.save_scorecard,
        db.save_decision,
        db.save_assessment,
        db.assign_reviewers,
        db.release_assignment,
        db.save_score,
        db.save_feedback,
        db.save_booking,
        db.save_module_progress,
        email.send_email,
        custom.notify_hiring_manager,
        privacy.schedule_retention,
        privacy.erase_application,
        webhooks.deliver_webhook,
        webhooks.give_up_webhook_delivery,
        webhooks.notify_webhook_disabled,
    ]


__all__ = ["ApplicationActivities", "EmailActivities", "build_activities"]
