"""runbox's pre-imported interpreter: started by the launcher while the container waits for its job.

It is an ordinary `python3` (the flags, environment and working directory of the plain path), imports the
preload modules quietly, then waits on a pipe for the program to run: entrypoint, arguments and the path of
its stdin file; never the job's marker. Then it *becomes* that program, in this same process, so the exit
status, signals, stdin and file descriptors are what `python3 main.py` would have: it is the launcher's
child either way.

    python3 preloaded.py COMMAND_FD REPORT_FD MODULE[,MODULE...]
"""
import json
import os
import resource
import signal
import sys

WORKSPACE = "/workspace"


def preload(names):
    # Nothing an import prints (a font cache note, a warning) may reach the program's output.
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        for name in names:
            try:
                __import__(name)
            except BaseException:  # the program will meet the same error itself, if it imports the module
                pass
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def close_other_fds():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass


def become(command):
    entrypoint, args = command["entrypoint"], list(command["args"])
    os.chdir(WORKSPACE)
    fd = os.open(command["stdin"], os.O_RDONLY)
    os.unlink(command["stdin"])
    os.dup2(fd, 0)
    os.close(fd)
    close_other_fds()
    path = os.path.abspath(entrypoint)
    sys.argv = [entrypoint] + args
    sys.orig_argv = ["/usr/bin/python3", entrypoint] + args
    sys.path[0] = os.path.dirname(path)
    return path


def run(path):
    # What python3 does for a script: a fresh __main__ module, the file compiled under its own name, run in
    # that module's namespace (runpy.run_path would set sys.argv[0] to the full path).
    import builtins
    import importlib.machinery
    import types

    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = builtins
    main.__annotations__ = {}
    sys.modules["__main__"] = main
    try:
        with open(path, "rb") as source:
            code = compile(source.read(), path, "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        # Drop this file's frames, so the traceback reads as `python3 main.py` prints it (a SyntaxError has
        # no frame of the program's: it is printed without a traceback, as python3 does).
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            # python3 ends an uncaught KeyboardInterrupt by SIGINT, so its parent sees the signal.
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        sys.exit(1)


def main():
    command_fd, report_fd = int(sys.argv[1]), int(sys.argv[2])
    preload([name for name in sys.argv[3].split(",") if name])
    with os.fdopen(command_fd, "rb") as pipe:
        command = json.loads(pipe.read())
    # The CPU the preload cost, so the launcher can report the program's own.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with os.fdopen(report_fd, "w") as report:
        report.write(str(round((usage.ru_utime + usage.ru_stime) * 1000)))
    run(become(command))


if __name__ == "__main__":
    main()
