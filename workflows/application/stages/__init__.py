"""One mixin per stage kind of a pipeline: its runner (``_run_<kind>``), its update handlers and
their validators. Refusals live in the validators: a handler runs only after its validator accepted
the update in the same step, and validators do not run on replay, so a stricter validator never
changes a recorded history."""
