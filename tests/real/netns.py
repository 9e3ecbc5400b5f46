"""Network namespaces for tests: a 'host' namespace with an uplink to a 'client' namespace.

Everything a networking test does runs inside them (ip netns exec), so the machine's own network is
never touched; deleting the namespaces removes every interface and firewall rule they held.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass


def run(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(argv), proc.stdout + proc.stderr))
    return proc


@dataclass
class Netns:
    host: str
    client: str
    host_ip: str = "10.200.0.2"
    client_ip: str = "10.200.0.1"

    @classmethod
    def create(cls) -> "Netns":
        tag = uuid.uuid4().hex[:6]
        ns = cls("mvmh" + tag, "mvmc" + tag)
        run("ip", "netns", "add", ns.host)
        run("ip", "netns", "add", ns.client)
        run("ip", "-n", ns.host, "link", "add", "up0", "type", "veth", "peer", "name", "cl0", "netns", ns.client)
        run("ip", "-n", ns.host, "addr", "add", ns.host_ip + "/24", "dev", "up0")
        run("ip", "-n", ns.client, "addr", "add", ns.client_ip + "/24", "dev", "cl0")
        for name, dev in ((ns.host, "up0"), (ns.client, "cl0")):
            run("ip", "-n", name, "link", "set", "lo", "up")
            run("ip", "-n", name, "link", "set", dev, "up")
        run("ip", "-n", ns.host, "route", "add", "default", "via", ns.client_ip)
        return ns

    def exec(self, *argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.host, *argv, check=check, **kwargs)

    def client_exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.client, *argv, check=check)

    def links(self) -> list[tuple[str, str]]:
        import json
        return sorted((link["ifname"], ",".join(sorted(link["flags"])))
                      for link in json.loads(run("ip", "-n", self.host, "-j", "link").stdout))

    def rules(self) -> list[str]:
        """Firewall rules (not chains) of the iptables tables mvm uses and every rule of mvm's nft table."""
        import json

        lines = []
        for table in ("filter", "nat", "mangle"):
            out = self.exec("iptables", "-w", "-t", table, "-S", check=False).stdout
            lines += [f"{table} {line}" for line in out.splitlines() if line.startswith("-A ")]
        nft = self.exec("nft", "-j", "list", "table", "ip", "mvm", check=False)
        if nft.returncode == 0:
            lines.append("nft table ip mvm exists")
            lines += nft_rules(json.loads(nft.stdout))
        return sorted(lines)

    def ip_forward(self) -> str:
        return self.exec("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()

    def destroy(self) -> None:
        for name in (self.host, self.client):
            pids = run("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            run("ip", "netns", "del", name, check=False)


def nft_rules(ruleset: dict) -> list[str]:
    """Every rule of an `nft -j` listing in full (chain, comment, expression), one entry per rule, so a
    duplicate or a leftover shows when two listings are compared."""
    import json

    return sorted("nft %s %s %s" % (rule["chain"], rule.get("comment", ""),
                                    json.dumps(rule["expr"], sort_keys=True, separators=(",", ":")))
                  for rule in (item.get("rule") for item in ruleset.get("nftables", [])) if rule)

