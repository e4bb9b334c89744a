# Leaves files everywhere it can, for the next run to find.
import os
for path in ["/tmp/persist", "/dev/shm/persist", "persist", "output/../persist2"]:
    try:
        open(path, "w").write("left behind")
    except OSError:
        pass
print("written")
