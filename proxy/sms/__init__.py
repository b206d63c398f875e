"""The SMS channel: a Twilio-compatible Messages API in front of the
agency's SMS provider, the inbound webhook for STOP/START/HELP, and the
spool deliverer for held and scheduled texts.

Importing this package is cheap (the policy imports :mod:`proxy.lint.segments`);
the web and HTTP parts live in their own modules.
"""
