# io_uring is a large kernel attack surface; the sandbox's seccomp profile refuses all three calls.
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
calls = [  # x86_64 numbers
    ("io_uring_setup", 425, (1, params)),
    ("io_uring_enter", 426, (0, 0, 0, 0, None, 0)),
    ("io_uring_register", 427, (0, 0, None, 0)),
]
for name, number, args in calls:
    result = libc.syscall(number, *args)
    print(name, "allowed" if result >= 0 else errno.errorcode[ctypes.get_errno()])
