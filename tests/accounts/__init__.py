"""Tests of proxy/accounts/."""
