"""Tests of proxy/store/."""
