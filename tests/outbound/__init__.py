"""Tests of proxy/outbound/."""
