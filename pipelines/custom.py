"""Custom stages registered by ops: the names a Custom stage may use.

- activities, implemented in activities/custom.py and registered on the worker;
- child workflows, implemented in workflows/custom.py (deterministic code) and registered too.

Tests keep these lists and the worker's registrations in step.
"""

CUSTOM_ACTIVITIES: frozenset[str] = frozenset({"notify_hiring_manager"})
CUSTOM_WORKFLOWS: frozenset[str] = frozenset({"ReferenceCheck"})
