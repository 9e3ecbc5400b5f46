"""The collection's module payloads kept between ansible runs (plugin_utils/ansiballz_cache.py), for real with
ansible: the first run keeps what ansible-core built, the next one uses it instead of building, a changed source
or a file someone else could have written is not used, and MVM_ANSIBALLZ_CACHE=0 keeps nothing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.plugin_utils import ansiballz_cache
from tests.real.conftest import BIN, ENV


def facts(local_temp: Path, root: Path, **env: str) -> str:
    """`ansible localhost -m mvm.microvm.facts` with its own local temporary directory; ansible-core's debug
    output says whether it built the payload or found one."""
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "mvm.microvm.facts", "-a", f"state_root={root}"],
                          capture_output=True, text=True, cwd="/",
                          env=dict(ENV, ANSIBLE_LOCAL_TEMP=str(local_temp), ANSIBLE_DEBUG="1", **env))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and '"mvm": {' in out, out[-3000:]
    return out


BUILT = "ANSIBALLZ: Creating module"
FOUND = "ANSIBALLZ: using cached module"


def kept(local_temp: Path) -> list[Path]:
    store = local_temp / ansiballz_cache.STORE
    return sorted(store.iterdir()) if store.exists() else []


def test_a_payload_is_built_once_then_kept_and_found(tmp_path: Path) -> None:
    temp, root = tmp_path / "tmp", tmp_path / "st"
    out = facts(temp, root)
    assert BUILT in out and FOUND not in out
    files = kept(temp)
    assert [f.name.split("-")[0] for f in files] == ["facts"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((temp / ansiballz_cache.STORE).stat().st_mode) == 0o700
    before = files[0].stat().st_mtime_ns
    out = facts(temp, root)
    assert FOUND in out and BUILT not in out, out[-3000:]
    assert kept(temp) == files and files[0].stat().st_mtime_ns == before


def test_a_kept_payload_others_could_have_written_is_not_used(tmp_path: Path) -> None:
    temp, root = tmp_path / "tmp", tmp_path / "st"
    facts(temp, root)
    (payload,) = kept(temp)
    os.chmod(payload, 0o666)
    out = facts(temp, root)
    assert BUILT in out and FOUND not in out


def test_off_keeps_nothing(tmp_path: Path) -> None:
    temp, root = tmp_path / "tmp", tmp_path / "st"
    out = facts(temp, root, MVM_ANSIBALLZ_CACHE="0")
    assert BUILT in out and kept(temp) == []


def test_the_key_follows_every_source_the_payload_is_made_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(ansiballz_cache.PLUGINS + "/modules", plugins / "modules")
    shutil.copytree(ansiballz_cache.PLUGINS + "/module_utils", plugins / "module_utils")
    monkeypatch.setattr(ansiballz_cache, "PLUGINS", str(plugins))
    first = ansiballz_cache.source_key("vm", "ZIP_DEFLATED", "2.19.0")
    assert first == ansiballz_cache.source_key("vm", "ZIP_DEFLATED", "2.19.0")
    assert first != ansiballz_cache.source_key("facts", "ZIP_DEFLATED", "2.19.0")
    assert first != ansiballz_cache.source_key("vm", "ZIP_STORED", "2.19.0")
    assert first != ansiballz_cache.source_key("vm", "ZIP_DEFLATED", "2.19.1")
    probe = plugins / "module_utils" / "probe.py"
    probe.write_text(probe.read_text() + "\n# changed\n")
    assert first != ansiballz_cache.source_key("vm", "ZIP_DEFLATED", "2.19.0")
    assert ansiballz_cache.source_key("not_a_module", "ZIP_DEFLATED", "2.19.0") is None
