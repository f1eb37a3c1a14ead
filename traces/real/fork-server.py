# A fork-server loop in the style of a fuzzer (AFL's fork server), for traces/real/python-fork-server.trace.zst:
# the parent builds ~100 MB of state once, then forks 40 children that each touch a few hundred random objects
# (and, through CPython's reference counting, the pages of everything they look at) and exit; the parent changes
# a little of its state between runs.
import os
import random

random.seed(1)
blocks = [bytearray(4096) for _ in range(25000)]  # about 100 MB in 4 KiB objects
table = {i: str(i) * 8 for i in range(100000)}     # a dict of small strings
for run in range(40):
    pid = os.fork()
    if pid == 0:
        for _ in range(300):
            blocks[random.randrange(len(blocks))][random.randrange(4096)] = 1
        s = sum(len(table[random.randrange(100000)]) for _ in range(300))
        os._exit(0 if s > 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    for _ in range(50):
        blocks[random.randrange(len(blocks))][0] += 1
print("runs: 40")
