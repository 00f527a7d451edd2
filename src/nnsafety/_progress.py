"""Progress for long loops: a tqdm bar on a terminal, nothing in logs, or a caller's callback.

``progress`` is ``None`` (a bar only when stderr is a terminal, so logs stay free of bar frames),
``True``/``False``, or a callable ``f(n)`` that receives each increment: the audit passes one so
the library's own loops move the audit's bar instead of the audit re-implementing them.
"""
from __future__ import annotations

import sys
from typing import Callable, Union

Progress = Union[None, bool, Callable[[int], None]]


class _Callback:
    def __init__(self, fn: Callable[[int], None]) -> None:
        self.fn = fn

    def update(self, n: int = 1) -> None:
        self.fn(n)

    def set_postfix_str(self, *_args, **_kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def show_progress(progress: Progress) -> bool:
    """Whether a bar is drawn for ``progress`` (None: only on a terminal)."""
    if callable(progress):
        return False
    return sys.stderr.isatty() if progress is None else bool(progress)


def progress_bar(total: int, desc: str = "", progress: Progress = None, **kwargs):
    """A context-managed bar with ``update(n)``: tqdm, a disabled tqdm, or the caller's callback."""
    if callable(progress):
        return _Callback(progress)
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    return tqdm(total=total, desc=desc, disable=not show_progress(progress), dynamic_ncols=True, **kwargs)
