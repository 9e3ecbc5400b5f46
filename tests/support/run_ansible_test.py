"""Run ansible-test on the collection in this checkout, offline-safe.

ansible-test bootstraps pip in its virtual environments with a script it downloads from a host
this machine cannot reach; a stand-in that uses ensurepip and then pip (which reaches PyPI) is
written to its cache first. Usage: python tests/support/run_ansible_test.py sanity [args...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible_collections" / "mvm" / "microvm"

STAND_IN = '''"""get-pip stand-in written by mvm's tests: ensurepip, then pip install of the asked packages."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
'''


def pip_version() -> str:
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text())
    if not match:
        raise SystemExit("cannot find the pip version ansible-test bootstraps")
    return match.group(1)


def write_stand_in() -> Path:
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / ("get_pip_%s.py" % pip_version().replace(".", "_"))
    path.write_text(STAND_IN)
    return path


def main(argv: list[str]) -> int:
    write_stand_in()
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ.get("PATH", "")))
    command = [str(bindir / "ansible-test")] + argv
    if argv and argv[0] in ("sanity", "units") and "--docker" not in argv and "--venv" not in argv:
        command += ["--venv", "--python", "%d.%d" % sys.version_info[:2], "--requirements", "--color", "no"]
    print("+", " ".join(command), flush=True)
    return subprocess.call(command, cwd=COLLECTION, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
