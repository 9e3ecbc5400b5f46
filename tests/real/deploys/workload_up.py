"""pyinfra twin of playbooks/workload_up.yml (a second VM of the same image, on port 8081)."""

from pyinfra import host

from mvm_pyinfra import operations as mvm

root = host.data.get("mvm_state_root")
mvm.rootfs(name="The application image", image="app", oci=f"docker://{host.data.registry}/app:1", tls_verify=False,
           state_root=root)
mvm.vm(name="The application in a microVM", vm="app2", image="app", backend="qemu", network="mvmbr0",
       ports=["8081:8080"], env={"GREETING": host.data.get("greeting") or "hello from pyinfra"},
       files=[{"path": "app.conf", "content": "listen=8080\nname=demo\n"}],
       secrets=[{"path": "token", "content": host.data.app_secret}], state_root=root)
