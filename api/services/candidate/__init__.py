"""The candidate's side, on their link: what they see (view) and what they do (actions)."""
