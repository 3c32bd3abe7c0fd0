# A pure-Python workload for the interpreter benchmark (issue 17 item 1 c): the kinds of work a
# Python program spends its time on, all in the interpreter's own loop (no numeric libraries):
#   records   a Dhrystone/pystone-like loop: objects, attribute reads and writes, small methods
#   words     dict and string work: split, join, format, counting and sorting words
#   fib       a recursive function (calls and returns)
#   sieve     list indexing and slicing (primes below a bound)
# It prints each part's time and a checksum of every result; the checksum must be the same on
# every machine that runs the same Python (nothing here depends on time, hashing seeds or order
# of a set).
import sys
import time
import zlib

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 1


class Record:
    __slots__ = ("kind", "value", "name", "next")

    def __init__(self, kind, value, name, nxt=None):
        self.kind = kind
        self.value = value
        self.name = name
        self.next = nxt

    def bump(self, by):
        self.value = (self.value * 31 + by) & 0xFFFFFFFF
        return self.value


def records(n):
    head = None
    for i in range(64):
        head = Record(i % 5, i, "rec%d" % i, head)
    total = 0
    for i in range(n):
        r = head
        while r is not None:
            if r.kind == i % 5:
                total = (total + r.bump(i)) & 0xFFFFFFFF
            elif r.kind > 2:
                total ^= r.value
            r = r.next
    return total


WORDS = "the quick brown fox jumps over the lazy dog while corral and qemu run the same guest".split()


def words(n):
    counts = {}
    out = []
    for i in range(n):
        line = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(i % 11 + 3))
        for w in line.split():
            key = "%s-%d" % (w, len(w) + i % 3)
            counts[key] = counts.get(key, 0) + 1
        if i % 97 == 0:
            out.append(line.upper().replace("O", "0")[:20])
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "|".join("%s=%d" % kv for kv in ranked[:10]) + ";" + ",".join(out[-5:])


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def sieve(limit):
    flags = [True] * (limit + 1)
    flags[0] = flags[1] = False
    for i in range(2, int(limit**0.5) + 1):
        if flags[i]:
            flags[i * i :: i] = [False] * len(range(i * i, limit + 1, i))
    primes = [i for i, f in enumerate(flags) if f]
    return len(primes), sum(primes[-100:])


PARTS = [
    ("records", lambda: records(1500 * SCALE)),
    ("words", lambda: words(3000 * SCALE)),
    ("fib", lambda: fib(21 + SCALE)),
    ("sieve", lambda: sieve(100000 * SCALE)),
]

crc = 0
t0 = time.perf_counter()
for name, run in PARTS:
    t = time.perf_counter()
    result = run()
    crc = zlib.crc32(("%s:%r\n" % (name, result)).encode(), crc)
    print("pybench %s %.3f s" % (name, time.perf_counter() - t))
total = time.perf_counter() - t0
print("pybench checksum %08x workload %.3f s" % (crc, total))
