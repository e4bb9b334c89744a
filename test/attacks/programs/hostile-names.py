# Artifact names that display as something else, break lines, or are not UTF-8 at all.
import os

os.chdir("output")
names = [
    "invoice\u202etxt.exe",  # right-to-left override: shows as "invoiceexe.txt"
    "line\u2028break",
    "next\u0085line",
    "zero\u200bwidth",
    "\ufeffbom",
    "cafe\u0301",  # NFD...
    "caf\u00e9",  # ...and NFC: the same name to a reader
    "plain.txt",
]
for name in names:
    open(name, "w").write("x")
for raw in (b"bad\xff", b"bad\xfe"):  # two invalid names that a lossy decoder would turn into one
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, raw)
    os.close(fd)
print(len(os.listdir(b".")))
