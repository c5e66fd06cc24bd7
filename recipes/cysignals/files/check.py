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


def outcome(test):
    """The exception a test ends with (some of upstream's return it)."""
    try:
        return test()
    except BaseException as e:  # noqa: BLE001 - the exception is the result
        return e


got = outcome(tests.test_sig_on)
assert isinstance(got, KeyboardInterrupt), f"SIGINT did not interrupt the C loop: {got!r}"
got = outcome(tests.test_signal_fpe)
assert isinstance(got, FloatingPointError), f"SIGFPE did not become FloatingPointError: {got!r}"
# The alarm interrupts a blocking call. With a busy `while` loop here the
# AlarmInterrupt once escaped the `try`, raised at the loop's line (CI run
# of 2026-11-30 under qemu-user); a signal during sleep() is raised by the
# call itself.
try:
    alarm.alarm(0.2)
    time.sleep(60)
except signals.AlarmInterrupt:
    pass
else:
    raise AssertionError("the alarm did not fire within 60 s")
print("cysignals: extensions loaded from", signals.__file__)
