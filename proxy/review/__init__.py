"""The review web app: supervisors release or return held messages, senders
cancel their own, and admins keep the consent registry.

Rendered on the server (Starlette + Jinja2, autoescaped), no JavaScript.
"""
