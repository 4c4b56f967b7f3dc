"""The audit log can be anchored: a head hash and count kept elsewhere show a cut-off tail, and the
service writes them itself as checkpoints (issue 13, item 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from api.audit import AuditLog, Checkpoints, last_checkpoint, records, scan, verify
from tests.conftest import serving


def _oversight(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api", *args], env={**os.environ, "OVERSIGHT_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=120, check=False)


def _log(tmp_path: Path, count: int) -> tuple[Path, list[str]]:
    path = tmp_path / "store" / "audit" / "audit.jsonl"
    audit = AuditLog(path)
    hashes = [audit.append({"event": "request", "n": i}) for i in range(count)]
    return path, hashes


def test_verify_finds_a_cut_off_tail_given_the_head_kept_elsewhere(tmp_path: Path) -> None:
    path, hashes = _log(tmp_path, 10)
    assert verify(path, head=hashes[-1], count=10) == (10, hashes[-1], None)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:7]))  # three records cut off the end: still a valid chain
    assert verify(path)[2] is None
    assert "no record has the head hash" in str(verify(path, head=hashes[-1])[2])
    assert "fewer than the 10 expected" in str(verify(path, count=10)[2])
    assert verify(path, head=hashes[6], count=7)[2] is None  # an older anchor still holds
    assert "is record 7, not record 6" in str(verify(path, head=hashes[6], count=6)[2])
    cut = _oversight(tmp_path / "store", "audit", "verify", "--head", hashes[-1], "--expect-count", "10")
    assert cut.returncode == 1 and "cut off" in cut.stderr, cut.stderr
    kept = _oversight(tmp_path / "store", "audit", "verify", "--head", hashes[6], "--expect-count", "7")
    assert kept.returncode == 0 and "7 records, chain intact" in kept.stdout


def test_checkpoints_are_written_and_checked(tmp_path: Path) -> None:
    path, _ = _log(tmp_path, 3)
    target = tmp_path / "elsewhere" / "checkpoints.jsonl"
    target.parent.mkdir()
    checkpoints = Checkpoints(path, target, 60)
    assert checkpoints.write() and not checkpoints.write()  # only when the log grew
    AuditLog(path).append({"event": "request", "n": 3})
    assert checkpoints.write()
    assert last_checkpoint(target) == (4, verify(path)[1])
    assert scan(path).records == 4
    ok = _oversight(tmp_path / "store", "audit", "verify", "--checkpoint", str(target))
    assert ok.returncode == 0, ok.stderr
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]))
    cut = _oversight(tmp_path / "store", "audit", "verify", "--checkpoint", str(target))
    assert cut.returncode == 1 and "fewer than the 4 expected" in cut.stderr


def test_a_running_service_writes_checkpoints(tmp_path: Path) -> None:
    folder = tmp_path / "served"
    target = tmp_path / "elsewhere.jsonl"
    with serving(folder, AUDIT_CHECKPOINT=str(target), AUDIT_CHECKPOINT_SECONDS="0.5") as url:
        for _ in range(3):
            with urllib.request.urlopen(url + "/stats", timeout=10) as answer:
                answer.read()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if target.exists() and last_checkpoint(target)[0] >= 6:
                break
            time.sleep(0.2)
    count, head = last_checkpoint(target)
    assert count >= 6 and verify(folder / "audit" / "audit.jsonl", head=head, count=count)[2] is None
    assert all(json.loads(line)["log"].endswith("audit.jsonl") for line in target.read_text().splitlines())


def test_an_unfinished_record_is_cut_off_and_the_gap_recorded(tmp_path: Path) -> None:
    """As a crash or a full disk leaves it: half a line at the end. The next writer recovers by itself."""
    path, hashes = _log(tmp_path, 3)
    with path.open("ab") as handle:
        handle.write(b'{"event":"response","request":"abc","sta')
    fresh = AuditLog(path)  # another process, or the service after a restart
    fresh.append({"event": "request", "n": 3})
    count, _, problem = verify(path)
    assert problem is None and count == 5
    lost = list(records(path))[3]
    assert lost["event"] == "lost" and lost["fragment_bytes"] == 40 and lost["prev"] == hashes[-1]
