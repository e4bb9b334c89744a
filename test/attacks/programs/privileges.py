# Tries every way up: capabilities, setuid, mount, new namespaces.
import ctypes, errno, os
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
libc = ctypes.CDLL(None, use_errno=True)
# From prctl, not /proc/self/status: gVisor's status has no NoNewPrivs line. The kernel's answer either way.
PR_GET_NO_NEW_PRIVS = 39
print("uid", os.getuid(), "CapEff", status["CapEff"].strip(), "NoNewPrivs", libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), "Seccomp", status["Seccomp"].strip())
def attempt(name, rc):
    print(name, "succeeded" if rc == 0 else errno.errorcode[ctypes.get_errno()])
attempt("setuid", libc.setuid(0))
attempt("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
attempt("unshare", libc.unshare(0x10000000))  # CLONE_NEWUSER
attempt("chroot", libc.chroot(b"/tmp"))
try:
    os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0))
    try:  # gVisor lets the node be made; what matters is whether it leads to the host's disk
        os.close(os.open("/tmp/sda", os.O_RDONLY))
        print("mknod succeeded, the disk opened")
    except OSError as e:
        print("mknod succeeded, open", errno.errorcode[e.errno])
except OSError as e:
    print("mknod", errno.errorcode[e.errno])
