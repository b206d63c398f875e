"""A real Postfix instance of the test's own, in a temp folder.

It is configured the way the README's Postfix gateway recipe says
(``relayhost`` pointing at Tactful), started with ``postfix -c DIR start``,
and mail is submitted with Postfix's own ``sendmail -C DIR``, exactly as a
worker's mail would enter the agency's Postfix. Its queue, data directory
and log live in the folder; it listens on no port of its own. Starting
Postfix needs root (it changes to the ``postfix`` user itself).

Import as ``from tests.support.postfix import ...``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SENDMAIL = "/usr/sbin/sendmail"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"


def postfix_unavailable() -> str | None:
    """Why a Postfix instance cannot be started here, or None."""
    if not os.access(POSTFIX, os.X_OK) or not os.access(SENDMAIL, os.X_OK):
        return "Postfix is not installed (make debian-packages installs postfix)"
    if os.geteuid() != 0:
        return "starting a Postfix instance needs root (Postfix drops to its own user)"
    try:
        import pwd

        pwd.getpwnam("postfix")
    except KeyError:
        return "the postfix system user does not exist (install the Debian postfix package)"
    return None


# Every service runs outside a chroot: the instance's folder holds nothing
# a chroot would need (resolv.conf, libraries).
MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class PostfixTls:
    """The README recipe's TLS: verify Tactful's certificate against
    ``ca_file`` (security level ``secure``) and show ``client_cert``."""

    ca_file: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class ContentFilter:
    """The README's second Postfix recipe: ``content_filter`` hands each
    message to Tactful (``tactful`` transport, with the TLS settings) and
    Tactful hands it back on a re-injection ``smtpd`` port, from where
    Postfix delivers it by ``relayhost``."""

    tactful: str  # "[localhost]:2525"
    reinject_port: int  # Tactful's upstream.target is 127.0.0.1:this


@dataclass
class PostfixInstance:
    """One Postfix with its own configuration, queue and log under ``home``.

    ``relayhost`` is where outgoing mail goes: Tactful itself (the first
    recipe), or with ``content_filter`` the next hop after Tactful."""

    home: Path
    relayhost: str  # "[localhost]:2525": Tactful's gateway listener
    tls: PostfixTls | None = None
    content_filter: ContentFilter | None = None

    @property
    def config_dir(self) -> Path:
        return self.home / "etc"

    @property
    def log_file(self) -> Path:
        return self.home / "maillog"

    def main_cf(self) -> str:
        """The README's recipe (relayhost to Tactful), plus what a private
        instance needs: its own folders, no listener, no local delivery,
        and quick retries so a test does not wait for the real schedule."""
        return f"""\
compatibility_level = 3.6
queue_directory = {self.home / "queue"}
data_directory = {self.home / "data"}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {self.home}
maillog_file = {self.log_file}
myhostname = mail.example.org
mydomain = example.org
myorigin = example.org
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
relayhost = {self.relayhost}
{self._tls_lines() if self.content_filter is None else self._filter_lines()}
# localhost from /etc/hosts: the test machine has no DNS for it.
smtp_host_lookup = native
# A private test instance: retry deferred mail within seconds.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
"""

    def _filter_lines(self) -> str:
        assert self.content_filter is not None
        return (
            f"smtp_tls_security_level = may\ncontent_filter = tactful:{self.content_filter.tactful}"
        )

    def master_cf(self) -> str:
        if self.content_filter is None:
            return MASTER_CF
        options = [f"  -o {line.replace(' = ', '=')}" for line in self._tls_lines().splitlines()]
        return (
            MASTER_CF
            + "tactful   unix  -       -       n       -       -       smtp\n"
            + "\n".join(options)
            + f"\n127.0.0.1:{self.content_filter.reinject_port} inet n - n - - smtpd\n"
            + "  -o content_filter=\n"
            + "  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks\n"
            + "  -o mynetworks=127.0.0.1/32\n"
            + "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
            + "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
        )

    def _tls_lines(self) -> str:
        if self.tls is None:
            return "smtp_tls_security_level = may"
        folder = self.config_dir
        return (
            "smtp_tls_security_level = secure\n"
            "smtp_tls_loglevel = 1\n"
            f"smtp_tls_CAfile = {folder / 'ca.pem'}\n"
            f"smtp_tls_cert_file = {folder / 'client.pem'}\n"
            f"smtp_tls_key_file = {folder / 'client.key'}"
        )

    def _install_tls_files(self) -> None:
        """Copies Postfix can read (the test's own folders are root's alone)."""
        if self.tls is None:
            return
        for source, name, mode in (
            (self.tls.ca_file, "ca.pem", 0o644),
            (self.tls.client_cert, "client.pem", 0o644),
            (self.tls.client_key, "client.key", 0o600),
        ):
            target = self.config_dir / name
            shutil.copyfile(source, target)
            target.chmod(mode)

    def start(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "queue").mkdir(exist_ok=True)
        data = self.home / "data"
        data.mkdir(exist_ok=True)
        shutil.chown(data, "postfix", "postfix")
        (self.config_dir / "main.cf").write_text(self.main_cf())
        (self.config_dir / "master.cf").write_text(self.master_cf())
        self._install_tls_files()
        self.log_file.touch()
        self._postfix("check")
        self._postfix("start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._postfix("status", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"postfix did not start: {self.log_text()[-2000:]}")

    def stop(self) -> None:
        self._postfix("stop", check=False)

    def sendmail(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Submit as a local program would: Postfix's sendmail, this instance."""
        done = subprocess.run(
            [SENDMAIL, "-C", str(self.config_dir), "-i", "-f", sender, "--", *recipients],
            input=raw,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"sendmail failed: {done.stderr.decode(errors='replace')}")

    def flush(self) -> None:
        subprocess.run(
            [POSTQUEUE, "-c", str(self.config_dir), "-f"],
            capture_output=True,
            timeout=60,
            check=False,
        )

    def queue_listing(self) -> str:
        done = subprocess.run(
            [POSTQUEUE, "-c", str(self.config_dir), "-p"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        return done.stdout.decode(errors="replace")

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _postfix(self, command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"postfix {command} failed: {done.stdout}{done.stderr}")
        return done


@contextmanager
def running_postfix(
    relayhost: str, tls: PostfixTls | None = None, content_filter: ContentFilter | None = None
) -> Iterator[PostfixInstance]:
    """A started instance, stopped and removed afterwards. Its folder is not
    under pytest's temp folders: those are private to root, and Postfix's
    daemons, running as ``postfix``, must reach their data directory."""
    home = Path(tempfile.mkdtemp(prefix="tactful-postfix-"))
    home.chmod(0o755)
    instance = PostfixInstance(home, relayhost, tls, content_filter)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(home, ignore_errors=True)
