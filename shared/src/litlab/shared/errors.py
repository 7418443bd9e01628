"""One way for every litlab command to end on bad input: one ``<prog>: error: ...`` line and exit code 1.

``litlab`` itself, ``python -m litlab.rl.offline`` and ``python -m litlab.robotics`` report a user error
(a bad argument, a missing or malformed file, an unwritable folder) as one line naming what was wrong,
plus a hint; ``LITLAB_DEBUG=1`` re-raises it with the full traceback. Programming errors (anything not
listed in :data:`USER_ERRORS`) keep their traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["USER_ERRORS", "debug_enabled", "print_error", "report_errors", "unwrap_union_error"]

USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
    PermissionError, ImportError,
)  # fmt: skip


_UNION = "Does not validate against any of the Union subtypes"


def unwrap_union_error(exc: BaseException) -> BaseException:
    """The constructor's own exception inside jsonargparse's "Union subtypes" wrapper (``Namespace(...)`` dump).

    jsonargparse raises the wrapper ``from`` the error a class's ``__init__`` raised; that one names the
    argument and the value. Without a chained cause, the wrapper's message is cut to its error lines.
    """
    inner = exc
    while _UNION in str(inner) and inner.__cause__ is not None:
        inner = inner.__cause__
    if _UNION not in str(inner):
        return inner
    lines = [ln.strip()[2:] for ln in str(inner).splitlines() if ln.strip().startswith("- ")]
    kept = [ln for ln in lines if not ln.startswith("Expected a <class 'NoneType'>")]
    return ValueError("; ".join(kept)) if kept else inner


def debug_enabled() -> bool:
    """``LITLAB_DEBUG`` is set to anything but empty or ``0``."""
    return os.environ.get("LITLAB_DEBUG", "") not in ("", "0")


def print_error(exc: BaseException, prog: str = "litlab") -> None:
    """``<prog>: error: <Type>: <message>`` and the ``LITLAB_DEBUG=1`` hint, on stderr."""
    message = " ".join(str(exc).split("\n")) if not isinstance(exc, KeyError) else repr(exc.args[0])
    print(f"{prog}: error: {type(exc).__name__}: {message}", file=sys.stderr)
    print(f"{prog}: set LITLAB_DEBUG=1 to see the full traceback.", file=sys.stderr)


def report_errors(fn: Callable[..., Any], *args: Any, prog: str, errors: tuple[type[BaseException], ...] = ()) -> int:
    """``fn(*args)``; 0 on success, 1 after printing a user error (re-raised under ``LITLAB_DEBUG=1``)."""
    try:
        fn(*args)
    except USER_ERRORS + errors as exc:
        if debug_enabled():
            raise
        print_error(exc, prog)
        return 1
    return 0
