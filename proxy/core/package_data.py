"""Shipped data files as real directories, found through importlib.resources.

Everything Tactful ships besides code (defaults, term lists, templates, static
files, migrations) lives inside its packages, so a wheel carries it, and is
found with :mod:`importlib.resources` rather than ``Path(__file__)``, so it is
found wherever the package is installed. Readers of single files use the
:class:`~importlib.resources.abc.Traversable` from ``resources.files`` directly;
this module serves the three that need a directory on disk: Jinja's
``FileSystemLoader`` (it reloads edited templates), Starlette's
``StaticFiles`` and Alembic (it imports ``env.py`` and the revisions by path).
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from functools import cache
from importlib import resources
from pathlib import Path

# Keeps any extracted copies alive for the whole process; closed at exit.
_extracted = ExitStack()
atexit.register(_extracted.close)


@cache
def data_directory(package: str, name: str) -> Path:
    """The directory ``name`` inside ``package``, as a path that lasts for the process.

    From an ordinary install (a wheel unpacked into site-packages, or a
    checkout) this is the package's own directory, untouched. Only a package
    that is not on the file system (a zip) gets a temporary copy from
    :func:`importlib.resources.as_file`, which Python supports for
    directories from 3.12; it is removed at exit. Cached, so every caller
    shares one copy.
    """
    return _extracted.enter_context(resources.as_file(resources.files(package) / name))
