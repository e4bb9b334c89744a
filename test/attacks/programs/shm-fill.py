# Fills /dev/shm: it is scratch space in the run's memory, so it must end in ENOSPC, not in the OOM killer.
import errno

written = 0
try:
    with open("/dev/shm/fill", "wb") as f:
        while True:
            f.write(b"x" * 65536)
            f.flush()
            written += 65536
except OSError as e:
    print(written >> 20, errno.errorcode[e.errno])
