"""Option declarations -> an ``llm.Options`` subclass per model.

Values from ``-o name value`` arrive as strings: pydantic's lax mode
coerces numbers and booleans, and arrays and objects are parsed as JSON.
The factory builds each class on first use.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, Optional

import llm
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WrapValidator,
    create_model,
)
from pydantic_core import PydanticCustomError

from ..declarations import OptionSpec
from ..errors import Signal

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
_LENGTHS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}


class DeclaredOptions(llm.Options):
    # Patterns are matched by Rust's engine only, as the loader matches
    # defaults: it cannot backtrack, and the loader refuses a pattern it
    # cannot compile (see patterns.py).
    model_config = ConfigDict(extra="forbid", regex_engine="rust-regex")


# As deep as the loader lets a model file nest: deeper JSON from ``-o`` would
# exhaust the stack somewhere between here and the request body.
MAX_DEPTH = 64


class _NotJSON(Signal, ValueError):
    """Python's json reads NaN and Infinity, which JSON has not."""


def _refuse_constant(constant: str):
    raise _NotJSON(f"{constant} is not a JSON number")


def _parse_json(kind: str):
    too_deep = f"expected a JSON {kind} nested at most {MAX_DEPTH} levels deep"

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value, parse_constant=_refuse_constant)
        except RecursionError:
            raise _error(too_deep) from None
        except _NotJSON as exc:
            raise _error(f"expected a JSON {kind}: {exc}") from None
        except ValueError:
            raise _error(f"expected a JSON {kind}") from None
        if _depth(parsed) > MAX_DEPTH:
            raise _error(too_deep)
        return parsed

    return BeforeValidator(parse)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value``, without recursing."""
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            level.extend((child, depth + 1) for child in children)
    return deepest


def _coerce(kind: str):
    """``-o level 2`` gives the string "2": make it the option's type before
    it is compared with the enum's values."""
    convert = {"integer": int, "number": float}.get(kind)

    def coerce(value: Any) -> Any:
        if isinstance(value, str) and convert is not None:
            try:
                return convert(value)
            except ValueError:
                return value
        if isinstance(value, str) and kind == "boolean" and value.lower() in _BOOLEANS:
            return _BOOLEANS[value.lower()]
        return value

    return BeforeValidator(coerce)


def _one_of(values: list):
    """``enum`` for arrays and objects, which ``Literal`` cannot hold."""

    def check(value: Any) -> Any:
        if value not in values:
            raise _error("must be one of " + ", ".join(json.dumps(v) for v in values))
        return value

    return AfterValidator(check)


def _error(message: str) -> PydanticCustomError:
    """A validation error that llm prints as it is (a ValueError would
    gain a "Value error, " prefix)."""
    return PydanticCustomError("option", "{message}", {"message": message})


def _item_errors_at_the_option(value: Any, handler) -> Any:
    """llm prints an error's location with ``", ".join(loc)``, which fails on
    an item's index: report ``item 0: ...`` at the option itself instead."""
    try:
        return handler(value)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            where = " ".join(f"item {p}" if isinstance(p, int) else str(p) for p in error["loc"])
            messages.append(f"{where}: {error['msg']}" if where else error["msg"])
        raise _error("; ".join(messages)) from None


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _integer_bound(arg: str, value: float) -> tuple[str, int]:
    """The same bound over the integers: ``> 1.5`` is ``>= 2``. pydantic
    refuses a fractional bound on an ``int`` field."""
    if arg == "ge":
        return "ge", math.ceil(value)
    if arg == "le":
        return "le", math.floor(value)
    if arg == "gt":
        return "ge", math.floor(value) + 1
    return "le", math.ceil(value) - 1


def _constraints(spec: OptionSpec, rules: dict) -> dict:
    out = {}
    for key, arg in _BOUNDS.items():
        value = getattr(spec, key)
        if value is None and key in rules:
            value = rules[key]
        if value is None:
            continue
        if spec.type == "integer":
            arg, value = _integer_bound(arg, value)
            keep = min if arg == "le" else max  # the stricter of two bounds
            value = keep(value, out.get(arg, value))
        out[arg] = value
    for key, arg in _LENGTHS.items():
        if getattr(spec, key) is not None:
            out[arg] = getattr(spec, key)
    return out


def annotation(spec: OptionSpec, rules: dict | None = None) -> Any:
    """The type of one option or array item, constraints included."""
    constraints = _constraints(spec, rules or {})
    if spec.enum is not None and spec.type in ("array", "object"):
        kind = list[Any] if spec.type == "array" else dict[str, Any]
        return Annotated[kind, _parse_json(spec.type), _one_of(spec.enum)]
    if spec.enum is not None:
        base: Any = Annotated[Literal[_enum_values(spec)], _coerce(spec.type)]
    elif spec.type == "array":
        item = annotation(spec.items) if spec.items else Any
        array = Annotated[list[item], _parse_json("array"), Field(**constraints)]
        return Annotated[array, WrapValidator(_item_errors_at_the_option)]
    elif spec.type == "object":
        return Annotated[dict[str, Any], _parse_json("object")]
    else:
        base = _SCALARS[spec.type]
        if spec.type == "number":
            # -o x inf would reach a request body as Infinity, which is not JSON.
            constraints["allow_inf_nan"] = False
    return Annotated[base, Field(**constraints)] if constraints else base


def _enum_values(spec: OptionSpec) -> tuple:
    """A number enum holds floats, so that its JSON Schema (and ``llm models
    list --options``) says number: ``[0.5, 1]`` would have no one type."""
    if spec.type != "number":
        return spec.enum
    return tuple(float(v) if isinstance(v, int) and float(v) == v else v for v in spec.enum)


def build_options(
    model_id: str, specs: tuple[OptionSpec, ...], option_rules: dict, metadata=None
) -> type[llm.Options]:
    """``metadata``: the model's, which gives some preset options their
    default (``OptionSpec.default_from``)."""
    fields = {}
    for spec in specs:
        kind = annotation(spec, option_rules.get(spec.name))
        default = spec.default_for(metadata)
        fields[spec.name] = (Optional[kind], Field(default=default, description=spec.description))  # noqa: UP045
    return create_model(f"Options[{model_id}]", __base__=DeclaredOptions, **fields)
