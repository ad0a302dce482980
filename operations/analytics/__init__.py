"""Analytics over the read model: funnel, stages, questions, reminders, reviewers, agreement, adverse impact."""
