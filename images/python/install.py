"""runbox installer: installs one dependency set into the set volume, as the installer user (uid 10000).

Started by the server (src/sandbox/dependency-sets.ts) in a container like a run's: no network, the
wheelhouse read-only at /wheelhouse, the set volume writable at /opt/deps. No program ever runs here,
and pip is given explicit wheel files with no index, so it resolves and downloads nothing.

  argv   -> SET [--remove OLD]... -- WHEEL...   (SET and OLD: folder names in /opt/deps; WHEEL: files
            in /wheelhouse)
  stdout -> the last line is "runbox-set-bytes=N", the installed set's size on disk
  exit   -> 0 once the set is complete; anything else leaves no SET folder behind

Folders named by --remove (sets the server evicted, installs that failed) are deleted first.
"""
import os
import shutil
import subprocess
import sys

ROOT = "/opt/deps"
WHEELHOUSE = "/wheelhouse"


def folder(root, name):
    if not name or "/" in name or name.startswith("."):
        raise SystemExit("runbox-install: bad name %r" % name)
    return os.path.join(root, name)


def disk_bytes(path):
    total = 0
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(parent, name)).st_blocks * 512
    return total


def main(argv):
    if "--" not in argv or not argv:
        raise SystemExit("usage: install.py SET [--remove OLD]... -- WHEEL...")
    split = argv.index("--")
    head, wheels = argv[:split], argv[split + 1:]
    target = folder(ROOT, head[0])
    old = head[1:]
    if len(old) % 2 or any(flag != "--remove" for flag in old[0::2]):
        raise SystemExit("runbox-install: expected --remove OLD pairs, got %r" % old)
    for name in old[1::2]:
        shutil.rmtree(folder(ROOT, name), ignore_errors=True)
    # Runs read the set as other users: folders 0755, files 0644, whatever the engine's umask.
    os.umask(0o022)
    # pip unpacks here before moving into the set: on the volume, so a set may exceed the small /tmp tmpfs,
    # and the move is a rename.
    staging = target + ".staging"
    os.mkdir(staging, 0o700)
    command = [sys.executable, "-I", "-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir",
               "--disable-pip-version-check", "--no-warn-script-location", "--quiet", "--target", target]
    code = subprocess.call(command + [folder(WHEELHOUSE, w) for w in wheels], env=dict(os.environ, TMPDIR=staging))
    shutil.rmtree(staging, ignore_errors=True)
    if code != 0:
        shutil.rmtree(target, ignore_errors=True)
        return code
    sys.stdout.write("runbox-set-bytes=%d\n" % disk_bytes(target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
