"""Tactful's tests, grouped by the stage of a message's journey they exercise."""
