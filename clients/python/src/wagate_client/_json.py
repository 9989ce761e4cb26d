"""Reading JSON values into typed fields, leniently: a missing or mistyped field gets its
default, and fields this version does not know stay in each result's `raw`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

JSON = Mapping[str, Any]


def obj(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def string(data: JSON, key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def opt_str(data: JSON, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def integer(data: JSON, key: str, default: int = 0) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def opt_int(data: JSON, key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(data: JSON, key: str, default: float = 0.0) -> float:
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


def boolean(data: JSON, key: str, default: bool = False) -> bool:
    value = data.get(key)
    return value if isinstance(value, bool) else default


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def opt_time(data: JSON, key: str) -> datetime | None:
    return parse_time(data.get(key))


def str_list(data: JSON, key: str) -> list[str]:
    value = data.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def obj_list(data: JSON, key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [dict(item) for item in value if isinstance(item, Mapping)]


def opt_obj(data: JSON, key: str) -> dict[str, Any] | None:
    value = data.get(key)
    return dict(value) if isinstance(value, Mapping) else None


# --- results declared as dataclasses, read by their field types -----------------------------
#
# A result is a frozen dataclass whose fields say what each JSON field is: `decode` reads every
# field by its annotation with the readers above, so a model is its field list and nothing
# else. A field named `raw` keeps the whole object; `JsonKey` and `WhenAbsent` in an
# `Annotated` type name a JSON field that is not a Python name (`from`) and the value of a
# missing field.

T = TypeVar("T")


@dataclass(frozen=True)
class JsonKey:
    """`Annotated[X, JsonKey("from")]`: the field is read from the JSON field `from`."""

    name: str


@dataclass(frozen=True)
class WhenAbsent:
    """`Annotated[X, WhenAbsent(v)]`: a missing JSON field reads as `v` (the field itself has
    no default, so that it may stand among required fields)."""

    value: Any


class FromJson:
    """Gives a dataclass result `from_json`, read by its field types."""

    @classmethod
    def from_json(cls: type[T], data: JSON) -> T:
        return decode(cls, data)


def decode(cls: type[T], data: JSON, **given: Any) -> T:
    """An instance of the dataclass `cls` from `data`; `given` fields are taken as they are."""
    values = dict(given)
    for name, read in _readers(cast(Hashable, cls)):
        if name not in values:
            values[name] = read(data)
    return cls(**values)


Reader = Callable[[JSON], Any]


@functools.cache
def _readers(cls: Any) -> tuple[tuple[str, Reader], ...]:
    hints = get_type_hints(cls, include_extras=True)
    readers: list[tuple[str, Reader]] = []
    for item in fields(cls):
        if not item.init:
            continue
        if item.name == "raw":
            readers.append((item.name, _whole))
            continue
        hint, key, default = hints[item.name], item.name, item.default
        if get_origin(hint) is Annotated:
            hint, *marks = get_args(hint)
            for mark in marks:
                key = mark.name if isinstance(mark, JsonKey) else key
                default = mark.value if isinstance(mark, WhenAbsent) else default
        readers.append((item.name, _reader(hint, key, default)))
    return tuple(readers)


def _whole(data: JSON) -> dict[str, Any]:
    return dict(data)


def _reader(hint: Any, key: str, default: Any) -> Reader:
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    optional = get_origin(hint) in (Union, UnionType) and len(args) == 1
    if optional:
        return _optional_reader(args[0], key)
    return _required_reader(hint, key, default)


def _optional_reader(hint: Any, key: str) -> Reader:
    """`X | None`: None when the field is missing or not an X."""
    if is_dataclass(hint):
        return lambda data: _nested(hint, opt_obj(data, key))
    if get_origin(hint) is list:
        whole = _required_reader(hint, key, MISSING)
        return lambda data: whole(data) if isinstance(data.get(key), list) else None
    if hint in _OPTIONAL:
        read = _OPTIONAL[hint]
        return lambda data: read(data, key)
    if get_origin(hint) is dict:
        return lambda data: opt_obj(data, key)
    raise TypeError(f"no JSON reader for {hint!r} | None")


def _required_reader(hint: Any, key: str, default: Any) -> Reader:
    given = () if default is MISSING else (default,)
    if hint in _REQUIRED:
        read = _REQUIRED[hint]
        return lambda data: read(data, key, *given)
    if is_dataclass(hint):
        return lambda data: _nested(hint, obj(data.get(key)))
    if get_origin(hint) is dict:
        return lambda data: obj(data.get(key))
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        if item is str:
            return lambda data: str_list(data, key)
        if is_dataclass(item):
            return lambda data: [_nested(item, entry) for entry in obj_list(data, key)]
        return lambda data: obj_list(data, key)
    if hint is Any:
        return lambda data: data.get(key)
    raise TypeError(f"no JSON reader for {hint!r}")


def _nested(cls: Any, value: dict[str, Any] | None) -> Any:
    if value is None:
        return None
    return cls.from_json(value) if hasattr(cls, "from_json") else decode(cls, value)


def _opt_number(data: JSON, key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _opt_boolean(data: JSON, key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


# The readers of a plain field by its type: with a default, and for `X | None`.
_REQUIRED: dict[Any, Callable[..., Any]] = {str: string, int: integer, float: number, bool: boolean}
_OPTIONAL: dict[Any, Callable[[JSON, str], Any]] = {
    str: opt_str,
    int: opt_int,
    datetime: opt_time,
    float: _opt_number,
    bool: _opt_boolean,
}
