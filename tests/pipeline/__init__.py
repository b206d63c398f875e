"""Tests of proxy/pipeline/."""
