"""Tests of proxy/sms/."""
