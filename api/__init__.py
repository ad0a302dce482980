"""HTTP API (FastAPI). No workflow logic here: it starts, signals and updates workflows."""
