# Tries every way up: capabilities, setuid, mount, new namespaces.
import ctypes, errno, os
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print("uid", os.getuid(), "CapEff", status["CapEff"].strip(), "NoNewPrivs", status["NoNewPrivs"].strip(), "Seccomp", status["Seccomp"].strip())
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, rc):
    print(name, "succeeded" if rc == 0 else errno.errorcode[ctypes.get_errno()])
attempt("setuid", libc.setuid(0))
attempt("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
attempt("unshare", libc.unshare(0x10000000))  # CLONE_NEWUSER
attempt("chroot", libc.chroot(b"/tmp"))
try:
    os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0))
    print("mknod succeeded")
except OSError as e:
    print("mknod", errno.errorcode[e.errno])
