# Looks for host secrets: kernel memory, keys, firmware, the environment.
import os
def probe(path):
    try:
        with open(path, "rb") as f:
            return "read %d" % len(f.read(4096))
    except OSError as e:
        return "denied %d" % e.errno
print("kcore", probe("/proc/kcore"))
print("keys", probe("/proc/keys"))
print("firmware", os.listdir("/sys/firmware") if os.path.isdir("/sys/firmware") else "absent")
print("env", sorted(os.environ))
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
