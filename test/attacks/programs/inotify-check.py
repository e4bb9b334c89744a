# Runs while inotify-hog holds its uid's inotify instances: it must still get one of its own. Prints the
# outcome and its uid.
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init()
print("ok" if fd >= 0 else errno.errorcode[ctypes.get_errno()], os.getuid())
