# Creates empty files until the filesystem runs out of inodes.
import errno, os
os.makedirs("/tmp/inodes")
count = 0
try:
    while True:
        open("/tmp/inodes/%d" % count, "w").close()
        count += 1
except OSError as e:
    print(count > 1000, errno.errorcode[e.errno])
