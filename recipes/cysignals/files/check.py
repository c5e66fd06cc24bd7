# On the target: the wheel pip installed into a fresh directory (argv[1])
# is the one imported, its extensions are compiled modules, and signals
# delivered to C code running under sig_on() (from a forked child, as
# upstream's own tests do) come back as Python exceptions.
import sys
import time

site = sys.argv[1]
sys.path.insert(0, site)
import cysignals
from cysignals import alarm, signals, tests

assert cysignals.__file__.startswith(site), cysignals.__file__
for mod in (signals, alarm, tests):
    assert mod.__file__.startswith(site) and mod.__file__.endswith(".so"), mod.__file__
try:
    tests.test_sig_on()
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("SIGINT did not interrupt the C loop")
try:
    tests.test_signal_fpe()
except FloatingPointError:
    pass
else:
    raise AssertionError("SIGFPE did not become FloatingPointError")
start = time.monotonic()
try:
    alarm.alarm(0.2)
    while time.monotonic() - start < 60:
        pass
except alarm.AlarmInterrupt:
    pass
else:
    raise AssertionError("the alarm did not fire")
print("cysignals: extensions loaded from", signals.__file__)
