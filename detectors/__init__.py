"""Tactful's built-in detectors.

Importing :mod:`proxy` first sets tldextract to its bundled suffix list
before any detector module imports Presidio, so a detector imported on its
own never downloads one either (see :mod:`proxy`).
"""

import proxy  # noqa: F401
