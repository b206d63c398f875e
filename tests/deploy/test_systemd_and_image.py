"""The hardened systemd unit, checked by systemd itself, and the
Containerfile, read (no container engine can build here: see the README).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "tactful.service"
CONTAINERFILE = REPO / "Containerfile"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
INSTALLED = "/opt/tactful/.venv/bin/tactful"

needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian: systemd)"
)


def local_copy(tmp_path: Path, text: str) -> Path:
    """The unit with its ExecStart pointing at this checkout's tactful, so
    systemd can check the command exists (it is in /opt only once installed)."""
    tactful = Path(sys.executable).with_name("tactful")
    assert tactful.exists(), tactful
    path = tmp_path / "tactful.service"
    path.write_text(text.replace(INSTALLED, str(tactful)))
    return path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=120, check=False
    )


@needs_systemd
def test_systemd_accepts_every_line_of_the_unit(tmp_path: Path) -> None:
    unit = local_copy(tmp_path, UNIT.read_text())
    done = analyze("verify", str(unit))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "" and done.stdout.strip() == "", done.stderr


@needs_systemd
def test_a_misspelt_directive_would_be_caught(tmp_path: Path) -> None:
    """Guards the check above: verify does report what it ignores."""
    unit = local_copy(tmp_path, UNIT.read_text().replace("ProtectSystem=", "ProtectSystm="))
    done = analyze("verify", str(unit))
    assert "Unknown key" in done.stderr


@needs_systemd
def test_the_unit_is_hardened(tmp_path: Path) -> None:
    text = UNIT.read_text()
    for directive in (
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "ProtectHome=true",
        "PrivateDevices=true",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ):
        assert f"\n{directive}\n" in text, directive
    unit = local_copy(tmp_path, text)
    # systemd's own exposure score, 0 (locked down) to 10 (unprotected):
    # "OK" is below 4; fail above 3.
    done = analyze("security", "--offline=true", "--threshold=30", str(unit))
    assert done.returncode == 0, done.stdout[-2000:]
    assert "Overall exposure level for tactful.service: " in done.stdout


def test_the_image_is_multi_stage_non_root_and_carries_the_model() -> None:
    text = CONTAINERFILE.read_text()
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS build") and stages[1].endswith(" AS run")
    run_stage = lines[lines.index(stages[1]) :]
    users = [line for line in run_stage if line.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    assert any(line.startswith("COPY --from=build /opt/tactful") for line in run_stage)
    # Dependencies with hashes, from the lock that pins the spaCy model too.
    assert "pip install --require-hashes -r requirements.lock" in text
    lock = (REPO / "requirements.lock").read_text()
    assert "en-core-web-sm" in lock
    assert 'python -c "import en_core_web_sm, proxy.cli"' in text
    assert 'VOLUME ["/var/lib/tactful"]' in text
    assert 'ENTRYPOINT ["tactful", "--config", "/etc/tactful/tactful.yaml"]' in text
    assert 'CMD ["serve"]' in text
    # Nothing secret is baked in.
    for word in ("TACTFUL_HOLD_KEY=", "TACTFUL_REVIEW_KEY=", "PGPASSWORD="):
        assert word not in text
    ignore = (REPO / ".containerignore").read_text().split()
    assert {".git", ".venv", "var", "tests"} <= set(ignore)
    assert (REPO / ".dockerignore").read_text() == (REPO / ".containerignore").read_text()
