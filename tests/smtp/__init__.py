"""Tests of proxy/smtp/."""
