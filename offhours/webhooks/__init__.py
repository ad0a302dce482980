"""Outbound webhooks: endpoints' addresses checked, messages signed and sent."""
