# A double-forked, setsid daemon that keeps stdout open and writes from a second after the program ended,
# plus zombies. The daemon learns of the end from a pipe only the program holds open (its end of file comes
# when the program exits), so it does not matter how long the forks take: whatever it writes, it writes
# after the program ended, and the launcher kills every process left the moment it sees that end.
import os, time
ended_read, ended_write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(ended_write)
        os.read(ended_read, 1)
        time.sleep(1)
        while True:
            print("daemon still alive", flush=True)
            time.sleep(0.1)
    os._exit(0)
os.close(ended_read)
for _ in range(20):
    if os.fork() == 0:
        os._exit(0)  # never waited for: a zombie
print("parent done", flush=True)
