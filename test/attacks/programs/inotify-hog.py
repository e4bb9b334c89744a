# Takes every inotify instance its uid may have, says so (how many, why it stopped, its uid) on one line, and
# holds them until its run is stopped: whatever runs meanwhile runs while they are all held.
import ctypes
import errno
import os
import time

libc = ctypes.CDLL(None, use_errno=True)
held = []
while True:
    fd = libc.inotify_init()
    if fd < 0:
        break
    held.append(fd)
print(len(held), errno.errorcode[ctypes.get_errno()], os.getuid(), flush=True)
while True:
    time.sleep(60)
