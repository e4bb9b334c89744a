# More spinning processes than the run's CPU quota (threads would share the GIL), each for the same fixed
# wall time. Reports, as JSON, the wall time and the CPU time the run's processes got over it: from the
# container's cgroup when it can be read (the kernel's own count), else from getrusage over the children.
# With a third argument, "progress", it also prints the cgroup's count so far every half second while the
# children spin, one JSON line each: a run that is cancelled before its end still shows what it got.
import json, os, resource, sys, time

processes = int(sys.argv[1]) if len(sys.argv) > 1 else 4
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
progress = len(sys.argv) > 3 and sys.argv[3] == "progress"


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cgroup_cpu_seconds():
    for path in ("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "/sys/fs/cgroup/cpuacct/cpuacct.usage"):
        text = read(path)
        if text is not None:
            return int(text) / 1e9, "cgroup v1 " + path  # nanoseconds
    text = read("/sys/fs/cgroup/cpu.stat")  # cgroup v2
    if text is not None:
        fields = dict(line.split() for line in text.splitlines() if line.strip())
        if "usage_usec" in fields:
            return int(fields["usage_usec"]) / 1e6, "cgroup v2 /sys/fs/cgroup/cpu.stat"
    return None, None


def throttled():
    for path in ("/sys/fs/cgroup/cpu,cpuacct/cpu.stat", "/sys/fs/cgroup/cpu/cpu.stat", "/sys/fs/cgroup/cpu.stat"):
        text = read(path)
        if text is not None:
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            if "nr_throttled" in fields:
                return int(fields["nr_throttled"])
    return None


cgroup_before, source = cgroup_cpu_seconds()
throttled_before = throttled()
started_at = time.time()
start = time.monotonic()
deadline = start + seconds
children = []
for _ in range(processes):
    pid = os.fork()
    if pid == 0:
        while time.monotonic() < deadline:
            pass
        os._exit(0)
    children.append(pid)
while progress and time.monotonic() < deadline:
    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    so_far, _ = cgroup_cpu_seconds()
    print(json.dumps({
        "progress": True,
        "wall": time.monotonic() - start,
        "cpu": so_far - cgroup_before if source else None,
        "throttled": None if throttled_before is None else throttled() - throttled_before,
    }), flush=True)
for pid in children:
    os.waitpid(pid, 0)
wall = time.monotonic() - start
ended_at = time.time()
cgroup_after, _ = cgroup_cpu_seconds()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
children_cpu = usage.ru_utime + usage.ru_stime
throttled_after = throttled()
print(json.dumps({
    "processes": processes,
    "wall": wall,
    "cpu": cgroup_after - cgroup_before if source else children_cpu,
    "source": source or "getrusage(RUSAGE_CHILDREN)",
    "children_cpu": children_cpu,
    "throttled": None if throttled_before is None else throttled_after - throttled_before,
    "started_at": started_at,
    "ended_at": ended_at,
}))
