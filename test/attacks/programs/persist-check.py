# Looks for what an earlier run left behind.
import os
print([p for p in ["/tmp/persist", "/dev/shm/persist", "persist", "persist2", "/var/tmp/persist"] if os.path.exists(p)])
