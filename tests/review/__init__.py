"""Tests of proxy/review/."""
