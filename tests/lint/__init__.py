"""Tests of proxy/lint/."""
