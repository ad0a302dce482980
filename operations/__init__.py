"""What the product does across many parts: inviting (one path for one candidate and for a CSV),
auditing a history, archiving closed histories. Above the workflows and activities, below the API
and the workers."""
