"""Pipelines as code: stages (stages.py), a pipeline and its snapshot (base.py), its rules
(validation.py), scoring (scoring.py), the directory of people (people.py), the examples, and the
registry of the pipelines this deployment offers (registry.py). Importing this package loads none
of them."""
