"""autostart: the systemd template unit (checked by systemd-analyze, whose tool is here although PID 1 is not
systemd), its instance names (checked against systemd-escape), and the plans on a systemd host from recorded
facts; refused where PID 1 is something else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mvm.microvm.plugins.module_utils import autostart
from ansible_collections.mvm.microvm.plugins.module_utils.errors import SpecError
from tests.conftest import need
from tests.support import frontends
from tests.unit.test_catch_bugs import BASE, _running

SYSTEMD = "host\tpid1\tsystemd\n"


@pytest.mark.parametrize("path", ["/srv/mvm/vms/web", "/var/lib/mvm/vms/web-1.a_b", "/tmp/pytest-of-root/st0/vms/x",
                                  "/srv/.hidden/vms/a"])
def test_instance_names_are_what_systemd_escape_makes(path: str) -> None:
    need(shutil.which("systemd-escape") is not None, "needs systemd-escape (Debian: systemd)")
    expected = subprocess.run(["systemd-escape", "--path", path], capture_output=True, text=True, check=True).stdout
    assert autostart.escape_path(path) == expected.strip()


def test_the_template_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    need(shutil.which("systemd-analyze") is not None, "needs systemd-analyze (Debian: systemd)")
    unit = tmp_path / autostart.unit_name("/srv/mvm/vms/web")
    unit.write_text(autostart.UNIT)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0 and "mvm-vm" not in proc.stderr, proc.stderr


def test_a_vm_with_autostart_is_a_unit_instance_systemd_starts_and_stops() -> None:
    unit = "mvm-vm@srv-mvm-vms-svc.service"
    plan = frontends.engine("vm", dict(BASE, name="svc", autostart=True), frontends.Recording(_running() + SYSTEMD))
    assert [s.description for s in plan.steps] == [
        "create state directory /srv/mvm/vms/svc", "copy rootfs to the VM's own disk",
        "write the VM's start and stop scripts for systemd", "install mvm-vm@.service and enable " + unit,
        "record applied spec", "start VM svc (qemu, tcg, systemd)", "wait for svc to be ready (60s)"]
    start = next(s.command for s in plan.steps if s.description.startswith("start VM svc"))
    assert start == "systemctl enable --quiet %s && systemctl start %s" % (unit, unit)
    scripts = next(s.command for s in plan.steps if s.description.startswith("write the VM's start"))
    assert "setsid qemu-system-x86_64" in scripts and "system_powerdown" in scripts


def test_a_running_autostart_vm_is_stopped_and_removed_through_systemd() -> None:
    unit = "mvm-vm@srv-mvm-vms-web.service"
    host = _running(autostart=True) + SYSTEMD
    stop = frontends.engine("vm", dict(BASE, autostart=True, state="stopped"), frontends.Recording(host))
    assert [s.command for s in stop.steps] == ["systemctl disable --quiet %s; systemctl stop %s" % (unit, unit)]
    gone = frontends.engine("vm", dict(BASE, state="absent"), frontends.Recording(host))
    assert gone.steps[0].command == "systemctl disable %s >/dev/null 2>&1; true" % unit
    change = frontends.engine("vm", dict(BASE, autostart=True, memory=512), frontends.Recording(host))
    assert change.steps[0].command.startswith("systemctl disable --quiet %s; systemctl stop %s >/dev/null 2>&1; "
                                              % (unit, unit))


def test_autostart_elsewhere_is_refused_naming_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        frontends.engine("vm", dict(BASE, autostart=True), frontends.Recording(_running()))
    assert caught.value.field == "autostart" and "PID 1" in str(caught.value)
