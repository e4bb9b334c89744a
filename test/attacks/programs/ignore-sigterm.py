# Ignores SIGTERM, SIGINT and SIGHUP, and keeps children that ignore them too (dispositions survive fork):
# a plain child, a setsid child in its own session, and a double-forked daemon. All of them carry argv[1]
# (a token the test looks for) and would run forever. Prints how many of the run's processes ignore all three.
import ctypes, os, signal, sys, time

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)

# Started by a preloaded interpreter, the process's command line is that interpreter's, not ours: exec once
# (ignored signals survive exec) so the token is in every process's command line, whichever path ran us.
if len(sys.argv) < 3:
    os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__), sys.argv[1], "exec"])


def note_own_dispositions():
    # gVisor's /proc/<pid>/status has no SigIgn line: there, each process asks the kernel for its own
    # dispositions (sigaction) and leaves a note the counting below reads instead.
    libc = ctypes.CDLL(None, use_errno=True)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        old = ctypes.create_string_buffer(256)  # struct sigaction; sa_handler comes first
        if libc.sigaction(sig, None, old) != 0 or ctypes.c_void_p.from_buffer(old).value != int(signal.SIG_IGN):
            return
    open("/tmp/.ignores-%d" % os.getpid(), "w").close()


def forever():
    note_own_dispositions()
    while True:
        time.sleep(0.1)


if os.fork() == 0:
    forever()
if os.fork() == 0:
    os.setsid()
    forever()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        forever()
    os._exit(0)
os.wait()  # the daemon's parent; the daemon is now init's
note_own_dispositions()

IGNORED = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGHUP - 1))
token = sys.argv[1].encode()
while True:
    ignoring = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token not in open("/proc/%s/cmdline" % pid, "rb").read():
                continue
            status = open("/proc/%s/status" % pid).read()
        except OSError:
            continue
        if "SigIgn:" in status:
            sigign = int(status.split("SigIgn:")[1].split()[0], 16)
            ignoring += (sigign & IGNORED) == IGNORED
        else:
            ignoring += os.path.exists("/tmp/.ignores-%s" % pid)
    if ignoring == 4:
        break
    time.sleep(0.05)
print(ignoring, "processes ignore TERM INT HUP", flush=True)
forever()
