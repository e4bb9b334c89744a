# Tries to write outside the scratch space.
import errno, os
for path in ["/evil", "/usr/evil", "/etc/evil", "/var/tmp/evil", os.path.join(os.environ["HOME"], "evil")]:
    try:
        open(path, "w")
        print(path, "WRITABLE")
    except OSError as e:
        print(path, errno.errorcode[e.errno])
