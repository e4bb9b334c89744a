# Ignores SIGTERM, SIGINT and SIGHUP, and keeps children that ignore them too (dispositions survive fork):
# a plain child, a setsid child in its own session, and a double-forked daemon. All of them carry argv[1]
# (a token the test looks for) and would run forever. Prints how many of the run's processes ignore all three.
import os, signal, sys, time

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)

# Started by a preloaded interpreter, the process's command line is that interpreter's, not ours: exec once
# (ignored signals survive exec) so the token is in every process's command line, whichever path ran us.
if len(sys.argv) < 3:
    os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__), sys.argv[1], "exec"])


def forever():
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
        sigign = int(status.split("SigIgn:")[1].split()[0], 16)
        ignoring += (sigign & IGNORED) == IGNORED
    if ignoring == 4:
        break
    time.sleep(0.05)
print(ignoring, "processes ignore TERM INT HUP", flush=True)
forever()
