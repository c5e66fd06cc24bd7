"""Runs a command, prints its wall time, the CPU seconds of every process it
ran and wall / (CPU / cores), and appends `LABEL WALL` to WORK/walls.
Usage: python3 bench/measure.py LABEL CORES WORK COMMAND..."""
import resource
import subprocess
import sys
import time

label, jobs, work, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
t0 = time.monotonic()
with open(f"{work}/{label}.log", "w") as log:
    rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
if rc != 0:
    print(open(f"{work}/{label}.log").read()[-3000:])
    sys.exit(f"{label} failed")
print(f"{label:<8} wall {wall:6.1f} s   cpu {cpu:6.1f} s   utilisation {100 * cpu / (wall * jobs):3.0f} % of {jobs} cores"
      f"   (wall / (cpu/cores) = {wall / (cpu / jobs):.2f})")
with open(f"{work}/walls", "a") as f:
    f.write(f"{label} {wall}\n")
