# Forks until the kernel refuses; children sleep so they all count at once.
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as e:
    print(children, e.errno)
