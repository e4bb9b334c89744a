# Starts threads until the pids limit refuses another.
import threading, time
threads = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        threads += 1
except RuntimeError as e:
    print(threads, "refused")
