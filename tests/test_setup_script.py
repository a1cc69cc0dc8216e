"""scripts/setup-debian.sh with stand-ins for dpkg-query, apt-get and sudo: it installs only what is missing and
waits for another apt's lock (up to APT_LOCK_TIMEOUT) instead of failing at once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


SCRIPT = Path(__file__).parents[1] / "scripts" / "setup-debian.sh"
MISSING = ("wamerican", "libraqm0")


def fake_bin(tmp_path: Path, locked_calls: int, other_failure: bool = False) -> Path:
    """A PATH folder where every package but MISSING is installed, and `apt-get install` reports the dpkg lock
    held by another process for its first ``locked_calls`` calls (or another failure)."""
    b = tmp_path / "bin"
    b.mkdir()
    (b / "dpkg-query").write_text("#!/bin/sh\nfor a; do p=$a; done\ncase $p in " + "|".join(MISSING)
                                  + ") exit 1;; esac\nprintf 'install ok installed'\n")
    (b / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    fail = ('echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2; exit 100' if other_failure else
            'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt)" >&2; exit 100')
    (b / "apt-get").write_text(f"""#!/bin/sh
echo "$@" >> "{tmp_path}/apt.log"
case "$*" in *update*) exit 0;; esac
n=$(cat "{tmp_path}/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "{tmp_path}/calls"
if [ $n -le {locked_calls} ]; then {fail}; fi
exit 0
""")
    for f in b.iterdir():
        f.chmod(0o755)
    return b


def run(tmp_path: Path, b: Path, timeout_s: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{b}:/usr/bin:/bin", "APT_LOCK_TIMEOUT": str(timeout_s), "APT_LOCK_POLL": "0.1"}
    return subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)


def test_waits_for_the_lock_then_installs_only_what_is_missing(tmp_path):
    p = run(tmp_path, fake_bin(tmp_path, locked_calls=3), timeout_s=30)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("waiting for another apt/dpkg") == 3
    install = [line.split() for line in (tmp_path / "apt.log").read_text().splitlines() if line.startswith("install")]
    assert install and sorted(a for a in install[-1] if not a.startswith("-") and a != "install"
                              and "Lock" not in a) == sorted(MISSING)


def test_gives_up_after_the_timeout_and_fails_at_once_on_other_errors(tmp_path):
    (tmp_path / "a").mkdir()
    p = run(tmp_path / "a", fake_bin(tmp_path / "a", locked_calls=1000), timeout_s=1)
    assert p.returncode != 0 and "still holds the lock" in p.stderr
    (tmp_path / "b").mkdir()
    p = run(tmp_path / "b", fake_bin(tmp_path / "b", locked_calls=1000, other_failure=True), timeout_s=30)
    assert p.returncode != 0 and "waiting" not in p.stderr and "returned an error code" in p.stderr
    assert len((tmp_path / "b" / "apt.log").read_text().splitlines()) == 2  # update, then install once: no retries


def test_nothing_to_do_when_all_is_installed(tmp_path):
    b = fake_bin(tmp_path, locked_calls=0)
    (b / "dpkg-query").write_text("#!/bin/sh\nprintf 'install ok installed'\n")
    p = run(tmp_path, b, timeout_s=5)
    assert p.returncode == 0 and "all present" in p.stdout and not (tmp_path / "apt.log").exists()
