"""DKIM-signing relayed mail, as the very last step before it leaves.

Tactful may rewrite a message (tags stripped, values masked), which breaks
any signature made before it. So we sign after every change, over exactly
the bytes that go upstream: :meth:`DkimSigner.sign` returns the signature
field followed by the input unchanged. Relaxed/relaxed canonicalisation
survives the header refolding and trailing-whitespace changes that relays
commonly make.

dkimpy does the canonicalisation and header hashing; the RSA step is done
by OpenSSL (``cryptography``) instead of dkimpy's pure-Python ``pow``, which
cost ~6 ms per message, most of the proxy's per-message CPU with linting off.
PKCS#1 v1.5 signatures are deterministic, so the bytes are the same as
dkimpy's own ``dkim.sign`` would produce.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

from proxy.config import ConfigError, Settings

# Headers that carry the message's meaning for the reader. Each is signed
# once per occurrence plus once more ("oversigning"), so nobody can add a
# second From or a Reply-To later without breaking the signature.
SIGNED_HEADERS = (
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
    "Content-Type", "Reply-To", "In-Reply-To", "References",
)  # fmt: skip

_TXT_CHUNK = 255  # one DNS character-string holds at most 255 octets
_FIELD = b"DKIM-Signature"
_RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")


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
        try:
            # Fail at start-up, not on the first message.
            key = serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimError("the DKIM private key is not an unencrypted PEM key") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DkimError("the DKIM private key must be an RSA key (rsa-sha256)")
        self._key = key

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
            return self._signature_field(data) + data
        except (dkim.DKIMException, UnicodeEncodeError) as exc:
            raise DkimError(f"cannot DKIM-sign the message: {type(exc).__name__}") from None

    def _signature_field(self, data: bytes) -> bytes:
        """What ``dkim.sign(..., canonicalize=(relaxed, relaxed))`` builds,
        step for step (dkimpy 1.1 ``DKIM.sign``/``gen_header``), with the
        private-key operation done by OpenSSL."""
        include = tuple(name.lower() for name in self._include_headers(data))
        headers, body = dkim.rfc822_parse(data)
        domain = self.domain.encode("ascii")
        body_hash = base64.b64encode(hashlib.sha256(_RELAXED.canonicalize_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", _RELAXED.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector.encode("ascii")),
            (b"t", str(int(time.time())).encode("ascii")),
            (b"h", b" : ".join(include)),
            (b"bh", body_hash),
            # A placeholder long enough to fold b= onto its own line, so
            # the final value does not move the folds of the tags before it.
            (b"b", b"0" * 60),
        ]
        unsigned = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(_FIELD))
        hasher = hashlib.sha256()
        # Strips the b= value itself, as verifiers do.
        dkim.hash_headers(
            hasher,
            _RELAXED,
            _RELAXED.canonicalize_headers(headers),
            include,
            (_FIELD, b" " + unsigned),
            dict(fields),
        )
        signature = self._key.sign(
            hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
        fields[-1] = (b"b", base64.b64encode(signature))
        value = dkim.fold(b"; ".join(b"=".join(f) for f in fields) + b"\r\n", namelen=len(_FIELD))
        return _FIELD + b": " + value


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
