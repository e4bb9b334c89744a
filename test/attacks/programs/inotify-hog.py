# Takes every inotify instance its uid may have, and holds them while another run starts.
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
time.sleep(6)
