# Looks for a way to the Docker engine or containerd.
import os
paths = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock"]
found = [p for p in paths if os.path.exists(p)]
for root, dirs, files in os.walk("/run"):
    found += [os.path.join(root, f) for f in files if f.endswith(".sock")]
print(found)
