# The launcher (our parent, same uid) holds the job's end marker; reading or writing its memory would let a
# program forge its result or fake an engine failure. Every way in must be closed, and the run still works.
import ctypes
import errno
import os

launcher = os.getppid()
print("parent", "launcher" if b"launcher.py" in open("/proc/%d/cmdline" % launcher, "rb").read() else "other")


def attempt(label, action):
    try:
        action()
        print(label, "open")
    except OSError as e:
        print(label, errno.errorcode[e.errno])


attempt("mem", lambda: open("/proc/%d/mem" % launcher, "r+b").close())
attempt("fd", lambda: os.listdir("/proc/%d/fd" % launcher))
attempt("environ", lambda: open("/proc/%d/environ" % launcher, "rb").read())
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
if libc.ptrace(PTRACE_ATTACH, launcher, None, None) == 0:
    print("ptrace attached")
    libc.ptrace(PTRACE_DETACH, launcher, None, None)
else:
    print("ptrace", errno.errorcode[ctypes.get_errno()])
open("output/after.txt", "w").write("intact")
