# A double-forked, setsid daemon that keeps stdout open and writes after the parent exits, plus zombies.
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1)
        while True:
            print("daemon still alive", flush=True)
            time.sleep(0.1)
    os._exit(0)
for _ in range(20):
    if os.fork() == 0:
        os._exit(0)  # never waited for: a zombie
print("parent done", flush=True)
