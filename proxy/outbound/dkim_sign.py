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
OpenSSL's step takes about 0.3 ms and releases the GIL, but handing only it
to a thread measured no faster with one process and slower with two (the
hand-off costs more than it frees), so a small message is signed in place.
PKCS#1 v1.5 signatures are deterministic, so the bytes are the same as
dkimpy's own ``dkim.sign`` would produce.

The body is canonicalised and hashed in line-aligned slices rather than in
one regular-expression pass: one pass over a 10 MB body holds the GIL for
over half a second, and signing runs in a thread beside the event loop,
which must keep answering other SMTP sessions meanwhile.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

from proxy.core.clock import Clock
from proxy.core.config import ConfigError, Settings

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
_SLICE = 32 * 1024  # bytes of body canonicalised per step (~2 ms of GIL)
# Whitespace runs that are not already one space: a single space between
# words (almost every run in prose) is left alone rather than replaced.
_WSP_TO_COLLAPSE = re.compile(rb"\t[\t ]*| [\t ]+")
_LINE_END = re.compile(rb"\r?\n")


class DkimError(ValueError):
    """The message or key cannot be signed; the text never quotes the message."""


class DkimKeyMissingError(ConfigError):
    """No usable private key; the text says how to create one."""


class DkimSigner:
    def __init__(self, selector: str, domain: str, private_key_pem: bytes, *, clock: Clock) -> None:
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
        self._clock = clock

    def __repr__(self) -> str:
        return f"DkimSigner(selector={self.selector!r}, domain={self.domain!r})"

    def _include_headers(self, headers: list[list[bytes]]) -> list[bytes]:
        present = {name.lower(): 0 for name in SIGNED_HEADERS}
        for name, _ in headers:
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
        headers, body = _split(data)
        include = tuple(name.lower() for name in self._include_headers(headers))
        domain = self.domain.encode("ascii")
        body_hash = base64.b64encode(relaxed_body_hash(body))
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", _RELAXED.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector.encode("ascii")),
            (b"t", str(int(self._clock().timestamp())).encode("ascii")),
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


def _split(data: bytes) -> tuple[list[list[bytes]], bytes]:
    """Headers as ``dkim.rfc822_parse`` returns them, and the body with CRLF
    line ends, without splitting the whole message into lines."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or data.count(b"\n", 0, end) != data.count(b"\r\n", 0, end):
        return dkim.rfc822_parse(data)  # no body, or bare LFs in the header
    headers, _ = dkim.rfc822_parse(data[: end + 4])
    body = data[end + 4 :]
    if body.count(b"\n") != body.count(b"\r\n"):
        body = _LINE_END.sub(b"\r\n", body)
    return headers, body


def relaxed_body_hash(body: bytes) -> bytes:
    """SHA-256 of the RFC 6376 relaxed canonical form of ``body`` (CRLF line
    ends), equal to ``sha256(Relaxed.canonicalize_body(body))``."""
    hasher = hashlib.sha256()
    held = b""  # line ends that may turn out to be empty lines at the end
    content = False
    start = 0
    while start < len(body):
        cut = body.find(b"\r\n", start + _SLICE)
        stop = len(body) if cut < 0 else cut + 2
        # Runs collapse to one space first, so a line can end in at most
        # one space, which goes (RFC 6376 3.4.4: reduce, then ignore at EOL).
        piece = _WSP_TO_COLLAPSE.sub(b" ", body[start:stop]).replace(b" \r\n", b"\r\n")
        start = stop
        content_end = len(piece)
        while content_end >= 2 and piece[content_end - 2 : content_end] == b"\r\n":
            content_end -= 2
        if content_end == 0:
            held += piece
            continue
        hasher.update(held)
        hasher.update(piece[:content_end])
        held = piece[content_end:]
        content = True
    if content:
        hasher.update(b"\r\n")  # a non-empty body ends with exactly one line end
    return hasher.digest()


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


def signer_from_settings(settings: Settings, clock: Clock) -> DkimSigner | None:
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
        return DkimSigner(conf.selector, domain, pem, clock=clock)
    except DkimError as exc:
        raise DkimKeyMissingError(
            f"{path}: {exc}; create a new one with `tactful dkim keygen --force`"
        ) from None
