"""End to end: the shipped command, real clients, real upstreams, the built wheel."""
