"""Peak resident memory of this process between two stored outputs (for ``make profile``).

:func:`take_peak` returns the process's peak resident set size (``VmHWM`` in
``/proc/self/status``) since the previous call, then resets that peak by writing ``5`` to
``/proc/self/clear_refs`` (Linux 4.0 and later set ``VmHWM`` back to the current RSS). The IO
manager calls it once per output; the in-process executor runs a run's steps one after another,
so a step's figure covers loading its inputs, computing and writing its output. It is the
whole process's peak, not what the step added: it includes the interpreter, the imported
libraries and whatever earlier steps left allocated. The first figure in a process covers
everything since the process started; in a step with several outputs, the first output's
figure covers the computation and the others only the writes after it.

Where ``/proc`` is missing or the reset is refused, the figure is ``ru_maxrss`` (or a ``VmHWM``
that was never reset): the peak over the process's whole lifetime so far, and its scope says so.
Measuring never raises: a run must not fail because of it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

#: The figure covers the time since the previous :func:`take_peak` in this process (or its start).
SINCE_PREVIOUS = "since_previous_output"
#: The figure is the peak of the whole process so far (no way to reset it here).
PROCESS_LIFETIME = "process_lifetime"

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_HWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)

# Whether every reset so far succeeded; one refused reset makes VmHWM a lifetime figure.
_resets_ok = True


@dataclass(frozen=True)
class Peak:
    mib: float
    scope: str  # SINCE_PREVIOUS or PROCESS_LIFETIME


def read_peak() -> Peak | None:
    """The process's peak RSS (see the module docstring for what it covers); None if unknown."""
    try:
        with open(_STATUS) as status:
            match = _HWM.search(status.read())
    except OSError:
        match = None
    if match:
        scope = SINCE_PREVIOUS if _resets_ok else PROCESS_LIFETIME
        return Peak(int(match.group(1)) / 1024, scope)
    try:
        import resource  # POSIX only

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError, ValueError):
        return None
    # Linux reports kibibytes, macOS bytes.
    return Peak(maxrss / (2**20 if sys.platform == "darwin" else 1024), PROCESS_LIFETIME)


def reset_peak() -> bool:
    """Set the peak back to the current RSS; False where the kernel does not allow it."""
    global _resets_ok
    try:
        with open(_CLEAR_REFS, "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        _resets_ok = False
        return False


def take_peak() -> Peak | None:
    """The peak since the previous call, then reset it for the next one."""
    try:
        peak = read_peak()
        reset_peak()
        return peak
    except Exception:  # never let a measurement fail a run
        return None
