"""Bad input and interruptions end an entry script with one line, not a traceback.

``UserError`` is the one exception type for bad user input; ``run_main`` is the one wrapper every
entry script runs its ``main`` in (exit 2 for bad input; 130 for Ctrl-C, 143 for SIGTERM). A
long run wraps its work in ``interruption_note`` so an interrupted run also says what survives
(e.g. the last complete checkpoint and the command that continues from it).
"""
import signal
import sys
import threading
from contextlib import contextmanager


class UserError(Exception):
    """Bad input (path, file, config value, shape) with a message that names the fix."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM, raised in the main thread; ``note`` says what survives."""

    def __init__(self, signum=signal.SIGINT, note=""):
        super().__init__(signum, note)
        self.signum, self.note = signum, note


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


@contextmanager
def signals_raise_interrupted():
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread while the block runs.

    So ``finally`` clauses and context managers (temporary files, locks) clean up on ``kill`` as
    they do on Ctrl-C, and the exit code says which signal ended the run. MindSpore installs its
    own SIGINT/SIGTERM handlers when it loads; calling this again after that import re-installs ours.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def reclaim_signals():
    """Put our SIGINT/SIGTERM handlers back where MindSpore's runtime replaced them at the C level.

    MindSpore 2.10's runtime registers its own C handler for SIGINT during every train step
    (measured with sigaction: a new handler after each step), which turns Ctrl-C into SIGTERM;
    Python still reports our handler, so re-installing it is what restores it. Call it at the
    start and end of each step (a train-step callback); a Ctrl-C that lands inside a step's
    computation still meets MindSpore's handler and ends as SIGTERM (exit 143, same note).
    A no-op outside ``signals_raise_interrupted``.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is _raise_interrupted:
            signal.signal(sig, _raise_interrupted)


@contextmanager
def interruption_note(describe):
    """Run a long job; if it is interrupted, ``describe()`` (a one-line string) joins the exit message.

    Our signal handlers are (re)installed for the block, since importing MindSpore replaces them.
    """
    try:
        with signals_raise_interrupted():
            yield
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        raise Interrupted(signum, describe()) from None


def run_main(main, *args):
    """Run an entry script's ``main(*args)`` and exit with its return code (0 for None).

    Bad input ends with its message and exit code 2; Ctrl-C with 130 and SIGTERM with 143, each
    with one line (plus what the interrupted run says survives); no traceback in either case.
    """
    try:
        with signals_raise_interrupted():
            code = main(*args)
    except UserError as exc:
        print("error: %s" % exc, file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        note = getattr(exc, "note", "")
        print("interrupted by %s%s" % (signal.Signals(signum).name, "; " + note if note else ""), file=sys.stderr)
        raise SystemExit(128 + int(signum)) from None
    raise SystemExit(code or 0)
