"""The networking operations through real pyinfra processes, inside network namespaces."""

from __future__ import annotations

from pathlib import Path

from tests.real.conftest import BIN, ENV, seed_image, wait_for
from tests.real.netns import Netns

DEPLOYS = Path(__file__).parent / "deploys"


def deploy(ns: Netns, name: str, root: Path, *extra: str) -> str:
    proc = ns.exec(str(BIN / "pyinfra"), "@local", str(DEPLOYS / name), "--data", f"mvm_state_root={root}", *extra,
                   check=False, env=ENV, cwd="/")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_converge_twice_then_remove(ns: Netns, tmp_path: Path, built_image: Path) -> None:
    root = tmp_path / "state"
    seed_image(built_image, root)
    links, rules = ns.links(), ns.rules()
    out = deploy(ns, "net_up.py", root, "-y")
    assert out.count("[@local] Success") == 3, out
    wait_for(lambda: "mvm guest web" in ns.client_exec("curl", "-s", "--max-time", "3",
                                                       f"http://{ns.host_ip}:8080/", check=False).stdout, 20, "httpd")
    after_first = ns.rules()
    out = deploy(ns, "net_up.py", root, "-y")
    assert out.count("[@local] No changes") == 3 and "[@local] Success" not in out, out
    assert ns.rules() == after_first
    out = deploy(ns, "net_up.py", root, "--dry")
    assert "(@local)" not in out.split("Detected changes")[-1], out
    out = deploy(ns, "net_down.py", root, "-y")
    assert out.count("[@local] Success") == 3, out
    assert ns.links() == links and ns.rules() == rules
