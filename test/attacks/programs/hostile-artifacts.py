# Fills output/ with everything a reader could trip on.
import os
os.chdir("output")
open("real.txt", "w").write("real")
os.symlink("/etc/passwd", "passwd-link")
os.symlink("/", "root-link")
os.link("real.txt", "hardlink.txt")
os.mkfifo("fifo")
os.makedirs("dir")
open("dir/ok.txt", "w").write("ok")
os.symlink("/etc", "dir-link")
with open("sparse.bin", "wb") as f:
    f.truncate(10 * 1024 ** 3)
print("planted")
