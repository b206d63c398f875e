"""Tactful: a linting proxy for social workers' email and text messages.

The proxy runs without internet access, yet one library it uses would go
online by itself: tldextract (which Presidio imports for its e-mail
recognizer) fetches the public suffix list unless
``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` says otherwise; an empty value means
its bundled snapshot. It reads the variable when it is imported, so the
variable must be set before anything imports Presidio.

It is set here, once, because every way into Tactful imports this package
first: the CLI, the server and its analysis workers, the review app, the
lint engine loading detector plugins (third-party ones included), and the
built-in :mod:`detectors` package, which imports this one before any
detector module can import Presidio. An operator's own value is kept.
"""

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
