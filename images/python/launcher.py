"""runbox launcher: the sandbox container's main process (under the engine's init).

Protocol with the server (see src/sandbox/job-tar.ts and src/sandbox/run-output.ts):
  stdin  <- a tar stream: job.json, stdin (the program's stdin), files/<path> (the workspace)
  stdout -> the program's stdout, then the job's marker, then a tar stream of output/ files
            (each as output/<path>) followed by summary.json (what was skipped, usage, exit_code and, after
            an exit by SIGKILL where the memory cgroup's counters are readable, oom_killed), then
            the marker again: the archive is whole
  stderr -> the program's stderr, then the marker: nothing more will come (stdout and stderr reach the
            server by separate pipes, so each says where it ends). With both, the run is over: the server
            answers without waiting for the container's exit to be reported
  exit   -> the program's exit status (128 + signal number when it was killed by a signal), as exit_code
  ready  -> READY on stdout once the interpreter the program will run in is up, before the job is read
  argv   -> preloaded.py starts at once, so the interpreter's own start-up (about 35 ms) is done while the
            container waits for its job, and the program runs in that interpreter; optionally
            --preload=MOD,MOD: it imports those modules too;
            optionally --relay-output (under gVisor): the program writes into pipes of the launcher's,
            which copies them to stdout and stderr (see OutputRelay); SIGTERM then means the run's deadline
            has passed: every process of the run is killed and what the pipes hold is copied out before
            the launcher exits (143), so the server's SIGKILL that follows loses none of it
  job.json may name python_path, a dependency set's folder: the program gets it as PYTHONPATH, and runs
            in a fresh interpreter (a preloaded one may already hold other versions of those modules)

Nothing here is trusted by the server: the program runs as the same user and could replace any
of it. The server enforces every cap again on what it reads. This file only makes the common
case fast and correct. One thing it does guard: the launcher makes itself non-dumpable before it
reads the job, so the program cannot read the marker from, or write into, the launcher's memory
(/proc/<pid>/mem, ptrace) and so cannot make its run look like a lost output stream.
"""
import ctypes
import json
import os
import resource
import select
import signal
import stat
import subprocess
import sys
import tarfile
import threading

WORKSPACE = "/workspace"
OUTPUT = os.path.join(WORKSPACE, "output")
MPL_CACHE_SRC = "/opt/runbox/mplcache"
MAX_SCANNED_ENTRIES = 20000


def safe_join(base, rel):
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("unsafe path in job: %r" % rel)
    return os.path.join(base, *parts)


def write_file(path, reader, size):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        remaining = size
        while remaining > 0:
            chunk = reader.read(min(remaining, 1 << 16))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)


def write_all(fd, data):
    """Writes every byte, whatever the descriptor does: partial writes are resumed, EAGAIN is waited out."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])


class OutputRelay:
    """The program's stdout and stderr as pipes, copied to the container's own by the launcher.

    Under gVisor (runsc 20221219, as Debian ships it), a write of more than 64 KiB to the container's
    stdout is cut short, and Python's buffered writer then loses the rest without an error: a program
    printing 100 KB would come back with 64 KiB and no truncation flag. Pipes inside the sandbox are
    gVisor's own and keep POSIX semantics; the launcher resumes its partial writes (write_all).
    """

    def __init__(self):
        self.targets = (os.dup(1), os.dup(2))  # not inherited: only the launcher writes to them
        self.threads = []
        for target, fd in zip(self.targets, (1, 2)):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)  # every process started from now on writes into the pipe
            os.close(write_end)
            thread = threading.Thread(target=self._copy, args=(read_end, target), daemon=True)
            thread.start()
            self.threads.append(thread)

    @staticmethod
    def _copy(source, target):
        while True:
            chunk = os.read(source, 1 << 16)
            if not chunk:
                break
            write_all(target, chunk)
        os.close(source)

    def finish(self):
        """After kill_leftovers: waits until every writer is gone and all is copied, then restores stdout and stderr."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.drain()
        for target, fd in zip(self.targets, (1, 2)):
            os.dup2(target, fd)
            os.close(target)

    def drain(self):
        """After kill_leftovers: returns once every writer is gone and what the pipes held is copied out."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(devnull, fd)  # the launcher's own write ends close; the pipes end when the program's do
        os.close(devnull)
        for thread in self.threads:
            thread.join()

    def drain_on_sigterm(self):
        """
        The server's timeout: SIGTERM (through the engine's init), then SIGKILL once the bounded grace is over.
        A SIGKILL alone would lose what the program wrote into the pipes and the launcher had not copied yet:
        a program writing right up to its deadline can be ahead of the relay by a pipe's worth (64 KiB). So
        the program is stopped here first and the pipes are drained: all it wrote before it was killed comes
        out, as under runc, where its writes reach the engine directly. Only ever called from the main thread,
        which touches no Python stream here (it may have been interrupted inside one).
        """
        def stop(signum, _frame):
            kill_leftovers()
            self.drain()
            os._exit(128 + signum)

        signal.signal(signal.SIGTERM, stop)


PR_SET_DUMPABLE = 4


def make_undumpable():
    # Without CAP_SYS_PTRACE, a non-dumpable process's /proc/<pid>/{mem,fd,environ} and ptrace are closed to
    # processes of the same uid. The program's own process is dumpable again after its execve; that is fine.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def read_job():
    job = None
    stdin_path = "/tmp/.runbox-stdin"
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            reader = tar.extractfile(member)
            if member.name == "job.json":
                job = json.loads(reader.read(1 << 20))
            elif member.name == "stdin":
                write_file(stdin_path, reader, member.size)
            elif member.name.startswith("files/"):
                write_file(safe_join(WORKSPACE, member.name[len("files/"):]), reader, member.size)
    if job is None:
        raise ValueError("job.json missing from the job archive")
    return job, stdin_path


def prepare_matplotlib():
    target = os.environ.get("MPLCONFIGDIR")
    if not target:
        return
    os.makedirs(target, mode=0o700, exist_ok=True)
    try:
        names = os.listdir(MPL_CACHE_SRC)
    except OSError:
        return
    for name in names:
        if name.startswith("fontlist") and name.endswith(".json"):
            with open(os.path.join(MPL_CACHE_SRC, name), "rb") as src, open(os.path.join(target, name), "wb") as dst:
                dst.write(src.read())


class Preloaded:
    """preloaded.py, started before the job arrives; it gets the program's entrypoint, never the marker."""

    def __init__(self, modules):
        command_read, self.command = os.pipe()
        self.report, report_write = os.pipe()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "/opt/runbox/preloaded.py", str(command_read), str(report_write), ",".join(modules)],
            cwd=WORKSPACE,
            stdin=subprocess.DEVNULL,
            close_fds=True,
            pass_fds=(command_read, report_write),
        )
        os.close(command_read)
        os.close(report_write)

    def wait_ready(self):
        """Returns once the interpreter has started and imported its modules (or has died trying)."""
        seen = b""
        while not seen.endswith(b"\n"):
            chunk = os.read(self.report, 64)
            if not chunk:
                return
            seen += chunk

    def run(self, job, stdin_path):
        """Hands the program over; returns the process and the CPU milliseconds its preload cost."""
        command = {"entrypoint": job["entrypoint"], "args": list(job.get("args", [])), "stdin": stdin_path}
        with os.fdopen(self.command, "wb") as pipe:
            pipe.write(json.dumps(command).encode())
        with os.fdopen(self.report, "rb") as report:
            reported = report.read(32)
        # Written before the program starts, so it is preloaded.py's word; empty if it died first.
        return self.proc, int(reported) if reported.isdigit() else 0


def run_program(job, stdin_path, preloaded):
    """Runs the program; returns its exit status and the CPU milliseconds to discount (a preload's)."""
    open(stdin_path, "ab").close()
    proc, discount_ms = None, 0
    python_path = job.get("python_path")
    if preloaded is not None and not python_path:
        try:
            proc, discount_ms = preloaded.run(job, stdin_path)
        except OSError:
            # The preloaded interpreter is gone (killed, out of memory): run the plain way instead.
            proc, discount_ms = None, 0
    if proc is None:
        with open(stdin_path, "rb") as stdin:
            os.unlink(stdin_path)
            argv = ["/usr/bin/python3", job["entrypoint"]] + list(job.get("args", []))
            env = dict(os.environ, PYTHONPATH=python_path) if python_path else None
            proc = subprocess.Popen(argv, cwd=WORKSPACE, stdin=stdin, close_fds=True, env=env)
    code = proc.wait()
    return (128 - code if code < 0 else code), discount_ms


def program_usage(discount_ms):
    """CPU and peak memory of the program and the children it waited for, from the kernel."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = round((usage.ru_utime + usage.ru_stime) * 1000) - discount_ms
    return {"cpu_ms": max(0, cpu_ms), "max_rss_kb": usage.ru_maxrss}


def kill_leftovers():
    # Detached children (double fork, setsid) must not outlive the program or write after the marker.
    # kill(-1) reaches every process we may signal except ourselves and init.
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass


def collect_artifacts(limits):
    """Regular files under output/, never following links, within the caps; the rest is counted as skipped."""
    chosen, skipped, total, scanned = [], 0, 0, 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = sorted(os.scandir(os.path.join(OUTPUT, rel_dir)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            scanned += 1
            if scanned > MAX_SCANNED_ENTRIES:
                return chosen, skipped + 1
            rel = entry.name if not rel_dir else rel_dir + "/" + entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                stack.append(rel)
            elif not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
                skipped += 1
            elif (len(chosen) >= limits["max_files"] or st.st_size > limits["max_file_bytes"]
                  or total + st.st_size > limits["max_total_bytes"]):
                skipped += 1
            else:
                chosen.append(rel)
                total += st.st_size
    return chosen, skipped


def emit_artifacts(marker, limits, usage, code, oom_killed):
    chosen, skipped = collect_artifacts(limits)
    out = sys.stdout.buffer
    out.write(marker.encode("ascii"))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for rel in chosen:
            try:
                fd = os.open(os.path.join(OUTPUT, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                skipped += 1
                continue
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_size > limits["max_file_bytes"]:
                    skipped += 1
                    continue
                info = tarfile.TarInfo("output/" + rel)
                info.size = st.st_size
                info.mode = 0o644
                tar.addfile(info, f)
        summary = {"skipped": skipped, "usage": usage, "exit_code": code}
        if oom_killed is not None:
            summary["oom_killed"] = oom_killed
        summary = json.dumps(summary).encode()
        info = tarfile.TarInfo("summary.json")
        info.size = len(summary)
        tar.addfile(info, _BytesReader(summary))
    out.write(marker.encode("ascii"))
    out.flush()
    write_all(2, marker.encode("ascii"))


class _BytesReader:
    def __init__(self, data):
        self.data = data

    def read(self, n=-1):
        chunk, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return chunk


def preload_modules(argv):
    for arg in argv:
        if arg.startswith("--preload="):
            return [name for name in arg[len("--preload="):].split(",") if name]
    return []


# Written on stdout once the interpreter the program will run in is up (and its preload done), before the
# job is read: nothing of the program's can come before it. src/sandbox/protocol.ts has the same bytes.
READY = b"\x00runbox-ready\x00"

# The kernel's count of OOM kills in this container's memory cgroup: cgroup v2, then v1. Under gVisor, or
# where neither is mounted, there is none, and only the engine can say.
OOM_COUNTERS = (("/sys/fs/cgroup/memory.events", "oom_kill"), ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"))


def oom_kills():
    for path, field in OOM_COUNTERS:
        try:
            with open(path) as counters:
                for line in counters:
                    name, _, value = line.partition(" ")
                    if name == field:
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def main():
    make_undumpable()
    prepare_matplotlib()
    relay = OutputRelay() if "--relay-output" in sys.argv[1:] else None
    if relay is not None:
        relay.drain_on_sigterm()
    modules = preload_modules(sys.argv[1:])
    preloaded = Preloaded(modules)
    # The server takes a container as warm once it has said so, and starts the program's clock only then.
    preloaded.wait_ready()
    write_all(1, READY)
    job, stdin_path = read_job()
    os.makedirs(OUTPUT, mode=0o755, exist_ok=True)
    discount_ms = 0
    kills_before = oom_kills()
    try:
        code, discount_ms = run_program(job, stdin_path, preloaded)
    except OSError as exc:
        sys.stderr.write("runbox: could not start the program: %s\n" % exc)
        code = 127
    # First of all: whatever the program left running gets no moment more to write in.
    kill_leftovers()
    usage = program_usage(discount_ms)
    # The engine learns of an OOM kill by an event that can come after the exit; the kernel's count is certain.
    kills_after = oom_kills() if code == 128 + signal.SIGKILL else None
    oom_killed = None if kills_after is None or kills_before is None else kills_after > kills_before
    if relay is not None:
        relay.finish()
    sys.stdout.flush()
    sys.stderr.flush()
    emit_artifacts(job["marker"], job["artifact_limits"], usage, code, oom_killed)
    os._exit(code)


if __name__ == "__main__":
    main()
