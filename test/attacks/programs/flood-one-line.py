# One enormous line, never a newline.
import os
chunk = b"y" * (1 << 20)
while True:
    os.write(1, chunk)
