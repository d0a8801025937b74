"""Which process holds a claim (on a stored message, or a send's), and whether it is known to be gone.

A holder reads "<machine>:<pid>:<start>": the machine is the host's name, its kernel's boot id and
the pid namespace, so that a pid is only ever looked up where it means the same process (another
host sharing the store's disk, another container, a boot before: never); the start is the
process's start time (clock ticks since boot), so that a pid given to a new process since does not
pass for the old one. Where /proc does not tell these, there is no holder, and a claim is its
holder's until it is stale (`ReceiverConfig.stale_after`), as for every claim of another machine.
"""

from __future__ import annotations

import os
import socket

_ABSENT = object()  # no such process
_UNKNOWN = object()  # there may be one, but it cannot be read (another user's, /proc hidden)

_machine_of: dict[int, str | None] = {}  # by pid: a forked child computes its own
_holder_of: dict[int, str | None] = {}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _start(pid: int):
    """The start time of process `pid` (as /proc says it), `_ABSENT` or `_UNKNOWN`."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return _ABSENT
    except OSError:
        return _UNKNOWN
    # (the command name, in parentheses, may hold spaces and parentheses: fields count from the last ")")
    fields = text.rpartition(")")[2].split()
    # A zombie counts as alive until it is reaped: its pid is not free yet, and a thread group
    # whose first thread ended shows as one while its other threads still run.
    return fields[19] if len(fields) > 19 else _UNKNOWN


def _machine() -> str | None:
    pid = os.getpid()
    if pid not in _machine_of:
        # A /proc of another pid namespace (a host's, mounted into a container) numbers processes
        # otherwise: no pid is looked up in it.
        ours = (_read("/proc/self/stat") or "").partition(" ")[0] == str(pid)
        boot = (_read("/proc/sys/kernel/random/boot_id") or "").strip() if ours else ""
        try:
            namespace = os.readlink("/proc/self/ns/pid")
        except OSError:
            namespace = ""
        namespace = "".join(c for c in namespace if c.isdigit())
        _machine_of[pid] = f"{socket.gethostname()}/{boot}/{namespace}" if boot and namespace else None
    return _machine_of[pid]


def this_process() -> str | None:
    """This process as a claim's holder; None where /proc does not tell enough."""
    pid = os.getpid()
    if pid not in _holder_of:
        machine, start = _machine(), _start(pid)
        _holder_of[pid] = f"{machine}:{pid}:{start}" if machine and isinstance(start, str) else None
    return _holder_of[pid]


def gone(holder: str | None) -> bool:
    """Whether the process `holder` names is known to run no more: one of this machine (same host,
    boot and pid namespace) whose pid is free, or now another process's. Any doubt (another
    machine's, unreadable, no holder recorded): False, and the claim's age decides."""
    if not holder or holder.count(":") < 2:
        return False
    machine, pid, start = holder.rsplit(":", 2)
    if not pid.isdigit() or machine != _machine():
        return False
    now = _start(int(pid))
    if now is _ABSENT:
        return True
    return now is not _UNKNOWN and now != start


def running_elsewhere(holder: str | None) -> bool:
    """Whether the process `holder` names is another process of this machine known to run still
    (its pid has the start time it had): a live worker, which may be at its claim right now,
    however long that takes. Any doubt (another machine's, unreadable, no holder): False."""
    if not holder or holder.count(":") < 2 or holder == this_process():
        return False
    machine, pid, start = holder.rsplit(":", 2)
    return pid.isdigit() and machine == _machine() and _start(int(pid)) == start
