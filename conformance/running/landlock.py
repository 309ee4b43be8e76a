"""Landlock, the Linux kernel's unprivileged access control: what holds a worker that
runs without bubblewrap.

A process can restrict itself, and every process it starts, for good: no root, no
namespaces (Linux 5.13 and later, where the kernel enables it). A worker without
bubblewrap is restricted this way before it starts, by its launcher
(``conformance.running.sandbox.LAUNCHER``):

* it may create, write, rename or delete files only beneath the folders it is given
  (its private scratch folder, ``/dev/shm``) and write to a few devices (``/dev/null``):
  not the results, not the sources, not another grading's files;
* with Landlock ABI 4 (Linux 6.7) it can neither connect nor bind a TCP socket;
* with ABI 6 (Linux 6.12) it can signal no process outside its own, nor reach an
  abstract Unix socket outside them.

Reading is not restricted: without a mount namespace what it cannot see would have
to be listed path by path, so it reads what the grading user can.
"""

from __future__ import annotations

import ctypes
import os
import sys

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# File system rights (ABI 1 unless said), those that change something.
WRITE_FILE = 1 << 1
REMOVE_DIR, REMOVE_FILE = 1 << 4, 1 << 5
MAKE = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
REFER = 1 << 13  # ABI 2: link or rename across folders
TRUNCATE = 1 << 14  # ABI 3
NET_TCP = (1 << 0) | (1 << 1)  # ABI 4: bind, connect
SCOPES = (1 << 0) | (1 << 1)  # ABI 6: abstract Unix sockets, signals
#: The devices a worker may write to without being allowed to create anything there.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is not available."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(ctypes.c_long(CREATE_RULESET), None, ctypes.c_size_t(0),
                                  ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def write_rights(version: int) -> int:
    rights = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    return rights


def what_holds(version: int) -> str:
    """What restricting a worker does with this ABI version, in words."""
    if version <= 0:
        return ""
    said = ["writes only beneath its own scratch folder and /dev/shm"]
    if version >= 4:
        said.append("no TCP connections")
    if version >= 6:
        said.append("no signals to processes outside its own")
    return ", ".join(said)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fail(what: str) -> OSError:
    errno = ctypes.get_errno()
    return OSError(errno, f"Landlock: {what}: {os.strerror(errno)}")


def restrict(writable: list[str]) -> int:
    """Restrict this process, and every process it starts, to writing beneath
    ``writable`` (and to the ``DEVICES``); the ABI version used. Raises ``OSError``."""
    version = abi()
    if version <= 0:
        raise OSError("Landlock is not available in this kernel")
    libc = _libc()
    rights = write_rights(version)
    attr = _RulesetAttr(rights, NET_TCP if version >= 4 else 0, SCOPES if version >= 6 else 0)
    size = ctypes.sizeof(ctypes.c_uint64) * (3 if version >= 6 else 2 if version >= 4 else 1)
    ruleset = libc.syscall(ctypes.c_long(CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise _fail("creating the ruleset")
    try:
        for path in [*writable, *DEVICES]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a device this system does not have
            try:
                allowed = rights if os.path.isdir(path) else rights & (WRITE_FILE | TRUNCATE)
                rule = _PathBeneath(allowed, fd)
                if libc.syscall(ctypes.c_long(ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                                ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise _fail(f"allowing writes beneath {path}")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _fail("setting no_new_privs")
        if libc.syscall(ctypes.c_long(RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise _fail("restricting the process")
    finally:
        os.close(ruleset)
    return version
