"""pyinfra inventory: this machine. Run: pyinfra inventory/inventory.py playbooks/deploy.py -y"""

mvm_hosts = ["@local"]
