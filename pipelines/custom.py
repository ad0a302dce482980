"""Custom stages registered by ops: the names a Custom stage may use. Each name is an activity
implemented in activities/custom.py and registered on the worker; a test keeps the two in step."""

CUSTOM_ACTIVITIES: frozenset[str] = frozenset({"notify_hiring_manager"})
