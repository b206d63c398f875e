"""DKIM-signing relayed mail, as the very last step before it leaves.

Tactful may rewrite a message (tags stripped, values masked), which breaks
any signature made before it. So we sign after every change, over exactly
the bytes that go upstream: :meth:`DkimSigner.sign` returns the signature
field followed by the input unchanged. Relaxed/relaxed canonicalisation
survives the header refolding and trailing-whitespace changes that relays
commonly make.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from proxy.config import ConfigError, Settings

# Headers that carry the message's meaning for the reader. Each is signed
# once per occurrence plus once more ("oversigning"), so nobody can add a
# second From or a Reply-To later without breaking the signature.
SIGNED_HEADERS = (
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
    "Content-Type", "Reply-To", "In-Reply-To", "References",
)  # fmt: skip

_TXT_CHUNK = 255  # one DNS character-string holds at most 255 octets


class DkimError(ValueError):
    """The message or key cannot be signed; the text never quotes the message."""


class DkimKeyMissingError(ConfigError):
    """No usable private key; the text says how to create one."""


class DkimSigner:
    def __init__(self, selector: str, domain: str, private_key_pem: bytes) -> None:
        if not selector or not domain:
            raise DkimError("a DKIM selector and domain are both required")
        self.selector = selector
        self.domain = domain.lower()
        self._key = private_key_pem
        try:
            # Fail at start-up, not on the first message.
            serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimError("the DKIM private key is not an unencrypted PEM key") from exc

    def __repr__(self) -> str:
        return f"DkimSigner(selector={self.selector!r}, domain={self.domain!r})"

    def _include_headers(self, data: bytes) -> list[bytes]:
        present = {name.lower(): 0 for name in SIGNED_HEADERS}
        for name, _ in dkim.rfc822_parse(data)[0]:
            key = name.decode("ascii", errors="replace").lower()
            if key in present:
                present[key] += 1
        if present["from"] != 1:
            # RFC 6376 signs From; a message with none or several is malformed.
            raise DkimError("cannot DKIM-sign the message: it must have exactly one From header")
        return [name.encode() for name, count in present.items() for _ in range(count + 1)]

    def sign(self, data: bytes) -> bytes:
        """``DKIM-Signature`` field + ``data``; ``data`` should use CRLF line ends."""
        try:
            signature = dkim.sign(
                data,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self._key,
                canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=b"rsa-sha256",
                include_headers=self._include_headers(data),
                linesep=b"\r\n",
            )
        except (dkim.DKIMException, UnicodeEncodeError) as exc:
            raise DkimError(f"cannot DKIM-sign the message: {type(exc).__name__}") from None
        return bytes(signature) + data


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 PEM, the form DKIM tooling (dkimpy, OpenDKIM) expects."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def txt_value(public_key: rsa.RSAPublicKey) -> str:
    """The DKIM key record's content: ``v=DKIM1; k=rsa; p=<base64 SPKI>``."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def dns_txt_record(selector: str, domain: str, public_key: rsa.RSAPublicKey) -> str:
    """A zone-file line; long values are split into 255-octet strings."""
    value = txt_value(public_key)
    chunks = [value[i : i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK)]
    strings = " ".join(f'"{chunk}"' for chunk in chunks)
    return f"{selector}._domainkey.{domain.rstrip('.')}. IN TXT {strings}"


def dkim_domain(settings: Settings) -> str | None:
    if settings.dkim.domain:
        return settings.dkim.domain.lower()
    return settings.agency.domains[0] if settings.agency.domains else None


def signer_from_settings(settings: Settings) -> DkimSigner | None:
    """The configured signer, or None when DKIM signing is turned off."""
    conf = settings.dkim
    if not conf.enabled:
        return None
    domain = dkim_domain(settings)
    if domain is None:
        raise ConfigError(
            "dkim.domain is not set and agency.domains is empty: set one of them, "
            "or set dkim.enabled: false"
        )
    path = Path(conf.key_file)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise DkimKeyMissingError(
            f"the DKIM key file {path} does not exist; create it with "
            f"`tactful dkim keygen --key-file {path}` and publish the DNS record it "
            "prints (or set dkim.enabled: false)"
        ) from None
    except OSError as exc:
        raise DkimKeyMissingError(f"cannot read the DKIM key file {path}: {exc.strerror}") from None
    try:
        return DkimSigner(conf.selector, domain, pem)
    except DkimError as exc:
        raise DkimKeyMissingError(
            f"{path}: {exc}; create a new one with `tactful dkim keygen --force`"
        ) from None
