"""The TLS context of the SMTP listeners (STARTTLS and implicit TLS).

Built once at start from ``smtp.tls``, so a missing or unreadable
certificate stops ``tactful serve`` with a plain-words error instead of
failing each client's handshake later.
"""

from __future__ import annotations

import ssl

from proxy.core.config import ConfigError, Settings


def build_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """Loads the certificate once at start; None when none is configured."""
    tls = settings.smtp.tls
    if not tls.cert_file and not tls.key_file:
        return None
    if not tls.cert_file or not tls.key_file:
        raise ConfigError("smtp.tls needs both cert_file and key_file")
    ca_file = settings.smtp.gateway.client_ca_file
    if ca_file:
        # Only the agency's CA may vouch for the mail system: the system's
        # public CAs (which create_default_context would load) could sign a
        # certificate for anyone.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.verify_mode = ssl.CERT_OPTIONAL  # workers' mail programs show none
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise ConfigError(
                f"cannot load smtp.gateway.client_ca_file {ca_file}: {reason}"
            ) from exc
    else:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(
            f"cannot load the TLS certificate {tls.cert_file} with key {tls.key_file}: {reason}"
        ) from exc
    return context
