"""One tiny registry class shared by every family (models, datasets, methods, attacks, ...).

Each family owns exactly one ``Registry`` instance; entries are registered with a decorator next
to the code that implements them (the timm pattern), and an unknown name fails with the list of
known names so a typo is fixed from the error message alone.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")


def check_argument_types(fn: Callable, kwargs: Mapping[str, Any], what: str) -> None:
    """Refuse a keyword argument that does not fit its parameter's plain annotation (bool, int,
    float, str): TOML ``width = "wide"`` or ``--set model_kwargs.depth=true`` must fail here with one
    line, not as a TypeError (or a silently wrong model) deep inside the constructor. Parameters
    annotated otherwise (``Any``, unions, tensors) are left to the constructor's own checks."""
    import inspect

    params = inspect.signature(fn).parameters
    for key, value in kwargs.items():
        if key not in params:
            continue
        ann = params[key].annotation
        kind = ann if isinstance(ann, str) else getattr(ann, "__name__", "")
        if kind == "bool":
            ok, expected = isinstance(value, bool), "true or false"
        elif kind == "int":
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            expected = "a finite number"
        elif kind == "str":
            ok, expected = isinstance(value, str), "a string"
        else:
            continue
        if not ok:
            raise ValueError(f"{what}: expected {key} {expected}, got {value!r}")


class Registry(Generic[T]):
    """A name -> entry mapping for one family (e.g. ``"model"``)."""

    def __init__(self, family: str, default_domains: Sequence[str] = ("image",)) -> None:
        self.family = family
        self.default_domains: Tuple[str, ...] = tuple(default_domains)
        self._entries: Dict[str, T] = {}
        self._domains: Dict[str, Tuple[str, ...]] = {}

    def register(self, name: str | None = None, domains: Optional[Sequence[str]] = None) -> Callable[[T], T]:
        """Decorator; ``domains`` names the input domains the entry supports (see nnsafety.domains)."""

        def decorator(entry: T) -> T:
            key = name or getattr(entry, "__name__")
            if key in self._entries:
                raise ValueError(f"{self.family} {key!r} is already registered")
            self._entries[key] = entry
            self._domains[key] = tuple(domains) if domains is not None else self.default_domains
            return entry

        return decorator

    def register_named(self, name: str, domains: Optional[Sequence[str]] = None) -> Callable[[T], T]:
        """Register a class and set its ``name`` (and ``domains``) attribute, so instances know them."""

        def decorator(cls: T) -> T:
            cls.name = name  # type: ignore[attr-defined]
            entry = self.register(name, domains)(cls)
            cls.domains = self._domains[name]  # type: ignore[attr-defined]
            return entry

        return decorator

    def domains(self, name: str) -> Tuple[str, ...]:
        """The input domains a registered entry supports."""
        self.get(name)
        return self._domains[name]

    def create(self, name: str, noun: str = "argument", **kwargs):
        """Instantiate a registered class; unknown keyword arguments fail naming the accepted ones.

        ``noun`` says what the arguments are called in this family's error message
        ("hyper-parameter" for methods, "setting" for detectors, ...).
        """
        import inspect

        cls = self.get(name)
        allowed = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.family} {name!r} got unknown {noun}(s) {', '.join(unknown)}; "
                f"expected some of: {', '.join(allowed) or '(none)'}"
            )
        check_argument_types(cls.__init__, kwargs, f"{self.family} {name!r}")
        return cls(**kwargs)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.family} {name!r}; expected one of: {', '.join(self.names())}"
            ) from None

    def names(self, domain: Optional[str] = None) -> List[str]:
        """Sorted names; with ``domain``, only the entries that support it."""
        return sorted(k for k in self._entries if domain is None or domain in self._domains[k])

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
