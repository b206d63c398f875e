"""Shared fixtures and builders: real sinks, servers, clients and worlds."""
