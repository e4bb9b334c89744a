import os
chunk = bytes(range(128, 256)) * 512
while True:
    os.write(1, chunk)
