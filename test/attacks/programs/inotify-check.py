# Runs while inotify-hog holds its uid's inotify instances: it must still get one of its own. Prints the
# outcome, its uid and the wall-clock time it asked at.
import ctypes
import errno
import os
import time

libc = ctypes.CDLL(None, use_errno=True)
asked_at = time.time()
fd = libc.inotify_init()
print("ok" if fd >= 0 else errno.errorcode[ctypes.get_errno()], os.getuid(), asked_at)
