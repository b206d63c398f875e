"""``tactful dkim keygen``: create the signing key and print its DNS record.

The private key never leaves the machine (mode 0600, never overwritten by
accident); the admin publishes the printed TXT record in the agency's DNS so
that recipients can check the signature.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from proxy.cli import EXIT_OK, EXIT_USAGE
from proxy.core.config import load_settings
from proxy.outbound.dkim_sign import (
    dkim_domain,
    dns_txt_record,
    generate_private_key,
    private_key_pem,
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    dkim_parser = subparsers.add_parser(
        "dkim",
        parents=[common],
        help="DKIM signing key management",
        description="Manage the key Tactful signs relayed mail with.",
    )
    sub = dkim_parser.add_subparsers(dest="dkim_command", metavar="COMMAND")
    sub.required = True
    keygen = sub.add_parser(
        "keygen",
        parents=[common],
        help="create a signing key and print the DNS TXT record to publish",
        description=(
            "Create an RSA private key for DKIM (file mode 0600) and print the DNS TXT "
            "record to publish. Defaults come from the dkim section of the configuration."
        ),
    )
    keygen.add_argument("--bits", type=int, default=2048, help="RSA key size (default 2048)")
    keygen.add_argument("--selector", help="DKIM selector (default: dkim.selector)")
    keygen.add_argument(
        "--domain", help="signing domain (default: dkim.domain or first agency domain)"
    )
    keygen.add_argument(
        "--key-file", metavar="PATH", help="where to write the key (default: dkim.key_file)"
    )
    keygen.add_argument("--force", action="store_true", help="replace an existing key file")
    keygen.set_defaults(func=keygen_command)


def _write_private(path: Path, data: bytes, *, force: bool) -> None:
    """Write with mode 0600 from the first byte, atomically when replacing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(tmp, path)
        else:
            # link() fails if the target exists: no race with a second keygen.
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def keygen_command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    selector = args.selector or settings.dkim.selector
    domain = args.domain or dkim_domain(settings)
    key_file = Path(args.key_file or settings.dkim.key_file)
    if args.bits < 1024 or args.bits > 8192:
        print("tactful dkim keygen: --bits must be between 1024 and 8192", file=sys.stderr)
        return EXIT_USAGE
    if not domain:
        print(
            "tactful dkim keygen: no domain: pass --domain, or set dkim.domain or "
            "agency.domains in the configuration",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if key_file.exists() and not args.force:
        print(
            f"tactful dkim keygen: {key_file} already exists; pass --force to replace it "
            "(mail signed with the old key stops verifying once its DNS record is removed)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    key = generate_private_key(args.bits)
    try:
        _write_private(key_file, private_key_pem(key), force=args.force)
    except FileExistsError:
        print(f"tactful dkim keygen: {key_file} already exists; pass --force", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"tactful dkim keygen: cannot write {key_file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    print(f"; private key written to {key_file}; publish this record in DNS:", file=sys.stderr)
    print(dns_txt_record(selector, domain, key.public_key()))
    return EXIT_OK
