# Writes to /tmp until the filesystem is full: must be ENOSPC, not the OOM killer.
import errno
written = 0
try:
    with open("/tmp/fill", "wb") as f:
        while True:
            f.write(b"\0" * (1 << 20))
            f.flush()
            written += 1
except OSError as e:
    print(written, errno.errorcode[e.errno])
