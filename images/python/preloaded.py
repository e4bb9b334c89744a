"""runbox's pre-imported interpreter: started by the launcher while the container waits for its job.

It is an ordinary `python3` (the flags, environment and working directory of the plain path), imports the
preload modules quietly, then waits on a pipe for the program to run: entrypoint, arguments and the path of
its stdin file; never the job's marker. Then it *becomes* that program, in this same process, so the exit
status, signals, stdin and file descriptors are what `python3 main.py` would have: it is the launcher's
child either way.

    python3 preloaded.py COMMAND_FD REPORT_FD MODULE[,MODULE...]
"""
import atexit
import gc
import json
import os
import resource
import signal
import sys

WORKSPACE = "/workspace"

# The program's exit status, as python3 would report it, its namespace (its __main__'s dict), whether it
# ended by an uncaught KeyboardInterrupt, and the modules loaded before it started.
status = 0
program = {"globals": None, "interrupted": False, "modules_before": set()}


def exit_quickly():
    """Registered before anything else, so it runs after every other atexit handler (the program's and the
    preloaded modules', e.g. logging's). python3's exit has by then done what a program can observe
    (non-daemon threads joined, atexit handlers run); what remains is the program's own objects (files it
    left open, __del__), then tearing down numpy, pandas and matplotlib module by module, ~150 ms that
    nothing observes. The first is done here, the second skipped."""
    try:
        # Files the program left open, wherever it keeps them (a class, another module, a cache), are
        # flushed first, while they are whole: collecting them in a cycle can drop a text file's buffer.
        flush_open_files()
        if program["globals"] is not None:
            clear_namespace(program["globals"])
        # The program's own modules go too, as python3's exit clears every module; __del__ methods run.
        for name in [n for n in sys.modules if n not in program["modules_before"]]:
            module = sys.modules.get(name)
            if getattr(module, "__dict__", None) is not None:
                clear_namespace(module.__dict__)
        gc.collect()
        flush_open_files()  # what those __del__ methods wrote
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    if program["interrupted"]:
        # python3 ends an uncaught KeyboardInterrupt by SIGINT once its exit is done.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def clear_namespace(namespace):
    """As python3's exit clears a module: its names set to None, those starting with one underscore first,
    __builtins__ kept. Code that runs during the clearing (a weakref callback, a __del__) then finds its
    globals None, as it expects at exit, rather than gone (logging's handler callback would print a
    NameError)."""
    names = list(namespace)
    for name in [n for n in names if n.startswith("_") and not n.startswith("__")] + names:
        if name != "__builtins__" and name in namespace:
            namespace[name] = None


def flush_open_files():
    import io

    for obj in gc.get_objects():
        if isinstance(obj, io.IOBase) and not obj.closed:
            try:
                obj.flush()
            except BaseException:
                pass


atexit.register(exit_quickly)


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
        warm_up(names)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def warm_up(names):
    """First use of the plotting path costs more than its imports: pandas imports its matplotlib backend
    lazily, and matplotlib loads fonts and the Agg renderer on the first draw. Do both off pyplot (its
    figure numbers stay untouched), so the program's first chart is not the first one drawn here."""
    try:
        if "matplotlib.pyplot" in sys.modules:
            import io

            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            figure = Figure()
            FigureCanvasAgg(figure)
            axes = figure.subplots()
            axes.plot([0, 1], [0, 1], label="warm-up")
            axes.set_title("warm-up")
            axes.legend()
            figure.savefig(io.BytesIO(), format="png")
            del figure, axes
            # Drawing opened font files (kept by matplotlib's font cache); let them go, so that no file of
            # the warm-up's stays open into the program (a stray descriptor sends the run down the plain path).
            from matplotlib import font_manager

            getattr(font_manager, "_get_font", None) and font_manager._get_font.cache_clear()
        if "pandas" in sys.modules and "matplotlib.pyplot" in sys.modules:
            import pandas.plotting._matplotlib  # noqa: F401
    except BaseException:
        pass
    gc.collect()


def shadowed(directory):
    """Names the program could import from its own folder that this interpreter already holds from
    elsewhere (json, random, numpy...): python3 main.py would import the program's; here the loaded one
    would win."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    local = {name[:-3] if name.endswith(".py") else name for name in entries}
    return [name for name in local if name in sys.modules and name != "__main__"]


def stray_fds():
    """Descriptors beyond stdio still open (the listing's own is closed once listdir returns)."""
    stray = []
    for fd in [int(name) for name in os.listdir("/proc/self/fd") if int(name) > 2]:
        try:
            os.fstat(fd)
            stray.append(fd)
        except OSError:
            pass
    return stray


def name_process(name):
    """`ps -o comm` then tells the program (named for its entrypoint) from an interpreter still waiting for
    its job; the command line stays preloaded.py's."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name[:15])
    except OSError:
        pass


def become(command):
    entrypoint, args = command["entrypoint"], list(command["args"])
    os.chdir(WORKSPACE)
    fd = os.open(command["stdin"], os.O_RDONLY)
    os.unlink(command["stdin"])
    os.dup2(fd, 0)
    os.close(fd)
    path = os.path.abspath(entrypoint)
    # Where this interpreter could not behave exactly as python3 main.py, become python3 main.py: exec keeps
    # the pid (still the launcher's child), stdin and cwd, and closes every descriptor opened since
    # (Python opens them close-on-exec). listdir's own descriptor is gone when stray_fds returns.
    if shadowed(os.path.dirname(path)) or stray_fds():
        os.execv("/usr/bin/python3", ["/usr/bin/python3", entrypoint] + args)
    sys.argv = [entrypoint] + args
    sys.orig_argv = ["/usr/bin/python3", entrypoint] + args
    name_process(os.path.basename(entrypoint))
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
    program["globals"] = main.__dict__
    global status
    try:
        with open(path, "rb") as source:
            code = compile(source.read(), path, "exec")
        exec(code, main.__dict__)
    except SystemExit as exit:
        # python3 itself prints a non-integer code and exits; only the status is noted here.
        status = exit_status(exit.code)
        raise
    except BaseException as exc:
        # Drop this file's frames, so the traceback reads as `python3 main.py` prints it (a SyntaxError has
        # no frame of the program's: it is printed without a traceback, as python3 does).
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        program["interrupted"] = isinstance(exc, KeyboardInterrupt)
        status = 1
        sys.exit(1)


def exit_status(code):
    """SystemExit's code as python3 turns it into a status: None is 0, an int is itself, anything else 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def main():
    command_fd, report_fd = int(sys.argv[1]), int(sys.argv[2])
    preload([name for name in sys.argv[3].split(",") if name])
    # What the preload made lives to the end: the collector leaves it be from now on, so neither the
    # program's collections nor its exit's walk the ~10^5 objects of pandas and matplotlib (as gc.freeze()
    # before a fork, which is what this is, a moment later). gc.get_objects() leaves them out too.
    gc.freeze()
    # Ready: the launcher tells the server so, and the program's time starts only once its job is handed in.
    os.write(report_fd, b"ready\n")
    with os.fdopen(command_fd, "rb") as pipe:
        command = json.loads(pipe.read())
    # The CPU the preload cost, so the launcher can report the program's own.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with os.fdopen(report_fd, "w") as report:
        report.write(str(round((usage.ru_utime + usage.ru_stime) * 1000)))
    path = become(command)
    program["modules_before"] = set(sys.modules)
    run(path)


if __name__ == "__main__":
    main()
