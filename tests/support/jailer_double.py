"""A jailer PROCESS DOUBLE for the tests (see firecracker_double.py: no Firecracker runs on this machine).

Does what Firecracker's jailer does that mvm's plans depend on, with the same command line:
  - checks `--id` (alphanumerics and '-', at most 64) and that the exec file's name contains
    "firecracker";
  - makes the chroot `<chroot-base-dir>/<exec-file-name>/<id>/root` and copies the exec file into it;
  - drops to `--uid`/`--gid` (for real: setgroups, setgid, setuid) before the VMM starts;
  - with `--new-pid-ns` forks the VMM and writes its pid to `<exec-file-name>.pid` in the chroot, as the
    real jailer does (the double makes no pid namespace; the pid is the one the host sees either way);
  - execs the exec file with `--id ID --start-time-us .. --start-time-cpu-us .. --parent-cpu-time-us ..`
    and the arguments after `--`.
What it does not: chroot (the Firecracker double resolves paths under $MVM_FC_DOUBLE_CHROOT instead),
cgroups, device nodes, `--netns` (refused: the tests give none), daemonizing.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time

VERSION = os.environ.get("MVM_FC_DOUBLE_VERSION", "1.16.1")
VALUED = {"--id", "--exec-file", "--uid", "--gid", "--chroot-base-dir", "--cgroup-version", "--netns", "--cgroup",
          "--parent-cgroup", "--resource-limit"}
FLAGS = {"--new-pid-ns", "--daemonize"}


def fail(message: str) -> None:
    sys.stderr.write("jailer double: %s\n" % message)
    sys.exit(1)


def main(argv: list[str]) -> None:
    if argv[:1] in (["--version"], ["-V"]):
        print("Jailer v%s" % VERSION)
        return
    args: dict[str, str | bool] = {}
    extra: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            extra = argv[i + 1:]
            break
        if a in FLAGS:
            args[a] = True
        elif a in VALUED and i + 1 < len(argv):
            args[a] = argv[i + 1]
            i += 1
        else:
            fail("unknown or incomplete argument %r" % a)
        i += 1
    for required in ("--id", "--exec-file", "--uid", "--gid"):
        if required not in args:
            fail("missing %s" % required)
    jail_id, exec_file = str(args["--id"]), str(args["--exec-file"])
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", jail_id):
        fail("invalid --id %r" % jail_id)
    name = os.path.basename(exec_file)
    if "firecracker" not in name:
        fail("the exec file name must contain 'firecracker': %r" % name)
    if not os.path.isfile(exec_file):
        fail("exec file %s does not exist" % exec_file)
    if "--netns" in args or "--daemonize" in args:
        fail("--netns and --daemonize are not implemented by this double")
    uid, gid = int(str(args["--uid"])), int(str(args["--gid"]))
    chroot = os.path.join(str(args.get("--chroot-base-dir", "/srv/jailer")), name, jail_id, "root")
    os.makedirs(chroot, exist_ok=True)
    inside = os.path.join(chroot, name)
    shutil.copy2(exec_file, inside)
    os.chown(inside, uid, gid)
    start_us = str(int(time.time() * 1e6))
    cpu_us = str(int(time.process_time() * 1e6))
    vmm_argv = [inside, "--id", jail_id, "--start-time-us", start_us, "--start-time-cpu-us", cpu_us,
                "--parent-cpu-time-us", cpu_us] + extra
    env = dict(os.environ, MVM_FC_DOUBLE_CHROOT=chroot)
    if args.get("--new-pid-ns"):
        child = os.fork()
        if child:
            with open(os.path.join(chroot, name + ".pid"), "w") as f:
                f.write(str(child))
            return
    os.chdir(chroot)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.execve(inside, vmm_argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
