"""Tests of proxy/core/."""
