"""mvm for pyinfra: facts and operations over the engine in the mvm.microvm collection.

    from mvm_pyinfra import operations as mvm
    mvm.rootfs(name="Build the default image")
    mvm.vm(name="Run web", vm="web", image="default", backend="qemu")
"""

__version__ = "0.1.0"
