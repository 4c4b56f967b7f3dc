"""The confinement of a SPARQL worker process: no network, bounded memory and output, lower priority.

:func:`confine` is called once, first thing, by each worker of :mod:`graph.sparql.workers`, before it
opens a store or parses a query, while the process has a single thread:

* **No network.** Where the process may (root, or a user namespace), it moves into a network
  namespace of its own, which holds only a loopback interface that is down. Always, on Linux
  x86-64 and AArch64, a seccomp filter makes ``socket``, ``socketpair``, ``connect``, ``bind``,
  ``listen``, ``accept``/``accept4`` and the ``io_uring`` calls fail with ``EPERM`` in every thread
  the process has or will have (``SECCOMP_FILTER_FLAG_TSYNC``), and kills the process on a call of
  another architecture's ABI (x32, 32-bit), which would otherwise slip past the numbers. A query
  that reached ``SERVICE`` or ``LOAD`` past the checks of :mod:`graph.sparql.engine` therefore fails:
  nothing is ever sent. The connection to the service is a socket pair made before the filter,
  so it still works.
* **Bounded.** ``RLIMIT_DATA`` caps the memory a query can take (a ``CONCAT`` that doubles a
  string 30 times), ``RLIMIT_FSIZE`` the size of the file its results are written to.
* **No reach into other processes**: the filter also denies ``ptrace``, ``process_vm_readv``/
  ``writev``, ``kcmp``, ``pidfd_getfd``, ``setns``, ``unshare``, ``mount``, ``bpf``,
  ``perf_event_open`` and the key-ring calls; the worker drops every capability (as root it
  keeps uid 0 but not root's powers), and it, the fork server and the service are
  non-dumpable (:func:`undumpable`), so ``/proc/PID/mem`` of another process is closed to it.
* **Lower priority** (``nice``), so the service's own threads (``/health``, linkage answers)
  keep the processor while queries run.
* It dies with its parent (``PR_SET_PDEATHSIG``).

The filter is written here as a classic BPF program (a dozen instructions) rather than taken
from libseccomp's Python binding, which PyPI does not carry; see
``docs/decisions/2026-12-02-sparql-workers.md``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import struct

__all__ = ["confine", "undumpable", "Confinement", "SandboxUnavailable"]

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
_CLONE_NEWNET = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_EPERM = 1
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06

#: Per architecture: (AUDIT_ARCH, the seccomp syscall's number, {denied call: number}).
_ARCHES: dict[str, tuple[int, int, int, dict[str, int]]] = {
    "x86_64": (0xC000003E, 317, 126, {
        "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53, "accept4": 288,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        # reaching into other processes, or out of this one's namespaces
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
        "setns": 308, "unshare": 272, "mount": 165, "bpf": 321, "perf_event_open": 298,
        "add_key": 248, "request_key": 249, "keyctl": 250}),
    "aarch64": (0xC00000B7, 277, 91, {
        "socket": 198, "socketpair": 199, "bind": 200, "listen": 201, "accept": 202, "connect": 203, "accept4": 242,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
        "setns": 268, "unshare": 97, "mount": 40, "bpf": 280, "perf_event_open": 241,
        "add_key": 217, "request_key": 218, "keyctl": 219}),
}
_PR_SET_DUMPABLE = 4
_CAPABILITY_VERSION_3 = 0x20080522
_X32_SYSCALL_BIT = 0x40000000


class SandboxUnavailable(OSError):
    """This platform cannot take the seccomp filter (not Linux x86-64 or AArch64, or refused)."""


class Confinement:
    """What :func:`confine` managed to put in place (reported to the service, which logs it)."""

    def __init__(self, *, seccomp: bool, network_namespace: bool, capabilities_dropped: bool = False) -> None:
        self.seccomp, self.network_namespace = seccomp, network_namespace
        self.capabilities_dropped = capabilities_dropped

    def as_dict(self) -> dict[str, bool]:
        return {"seccomp": self.seccomp, "network_namespace": self.network_namespace,
                "capabilities_dropped": self.capabilities_dropped}


def _instruction(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _program(arch: int, denied: list[int]) -> bytes:
    """BPF: wrong ABI -> kill; a denied call -> EPERM; anything else -> allow."""
    out = [_instruction(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
           _instruction(_JEQ_K, 1, 0, arch),
           _instruction(_RET_K, 0, 0, _RET_KILL_PROCESS),
           _instruction(_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
    if arch == _ARCHES["x86_64"][0]:  # x32 calls carry the same numbers with this bit set
        out += [_instruction(_JGE_K, 0, 1, _X32_SYSCALL_BIT), _instruction(_RET_K, 0, 0, _RET_KILL_PROCESS)]
    for index, number in enumerate(denied):
        remaining = len(denied) - index - 1
        # equal: jump over the remaining tests and the allow, to the EPERM at the end
        out.append(_instruction(_JEQ_K, remaining + 1, 0, number))
    out += [_instruction(_RET_K, 0, 0, _RET_ALLOW), _instruction(_RET_K, 0, 0, _RET_ERRNO | _EPERM)]
    return b"".join(out)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _seccomp() -> None:
    machine = platform.machine()
    if os.uname().sysname != "Linux" or machine not in _ARCHES:
        raise SandboxUnavailable(f"no seccomp filter for {os.uname().sysname} {machine}")
    arch, seccomp_nr, _, calls = _ARCHES[machine]
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SandboxUnavailable(f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}")
    code = _program(arch, sorted(calls.values()))
    buffer = ctypes.create_string_buffer(code, len(code))

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = _Prog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(seccomp_nr), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                    ctypes.c_long(_SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog)) != 0:
        raise SandboxUnavailable(f"seccomp(SET_MODE_FILTER) failed: errno {ctypes.get_errno()}")


def undumpable() -> None:
    """Make this process non-dumpable: no other process of the same user may read its memory through
    ``/proc/PID/mem`` or attach to it without ``CAP_SYS_PTRACE`` (which workers drop). The service and
    the fork server call it, so that a worker taken over through an engine defect cannot read their
    tokens or keys."""
    if os.uname().sysname == "Linux":
        _libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _drop_capabilities() -> bool:
    """Give up every capability (a worker running as root keeps the uid, not root's powers)."""
    machine = platform.machine()
    if os.uname().sysname != "Linux" or machine not in _ARCHES:
        return False
    header = struct.pack("Ii", _CAPABILITY_VERSION_3, 0)
    data = bytes(24)  # two {effective, permitted, inheritable} sets of 32 bits, all empty
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(ctypes.c_long(_ARCHES[machine][2]), ctypes.c_char_p(header), ctypes.c_char_p(data)) == 0


def _network_namespace() -> bool:
    """Move into an empty network namespace, where allowed (root or user namespaces); False where not."""
    if os.uname().sysname != "Linux":
        return False
    return _libc().unshare(_CLONE_NEWNET) == 0


def _limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))


def confine(*, memory_bytes: int, output_bytes: int, niceness: int = 5) -> Confinement:
    """Confine this process for good (see the module docstring); call it before any thread starts.

    Parameters
    ----------
    memory_bytes : int
        ``RLIMIT_DATA``: the heap and private mappings the process may hold.
    output_bytes : int
        ``RLIMIT_FSIZE``: the largest file it may write (writing past it fails with ``EFBIG``).
    niceness : int
        Added to the process's scheduling niceness.

    Raises
    ------
    SandboxUnavailable
        When the seccomp filter cannot be installed; the network namespace is a bonus.
    """
    if os.uname().sysname == "Linux":
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    namespace = _network_namespace()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    _limit(resource.RLIMIT_FSIZE, output_bytes)
    _limit(resource.RLIMIT_DATA, memory_bytes)
    os.nice(niceness)
    undumpable()
    capabilities_dropped = _drop_capabilities()
    _seccomp()
    return Confinement(seccomp=True, network_namespace=namespace, capabilities_dropped=capabilities_dropped)
