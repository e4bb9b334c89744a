# Inspects interfaces and routes; a name lookup is tried only once no route out exists.
import os, socket
interfaces = sorted(os.listdir("/sys/class/net"))
routes = open("/proc/net/route").read().splitlines()[1:] + open("/proc/net/ipv6_route").read().splitlines()
routes = [r for r in routes if " lo" not in r and not r.endswith("lo")]
print(interfaces, len(routes))
if not routes:
    try:
        socket.getaddrinfo("runbox-test.invalid", 80)
        print("dns resolved")
    except socket.gaierror:
        print("dns failed")
s = socket.socket()
try:
    s.connect(("127.0.0.1", 9))
except OSError as e:
    print("loopback", e.errno)
