"""Temporal activities: thin classes with their adapters injected."""
