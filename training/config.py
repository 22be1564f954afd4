"""Stage configs as dataclasses: help text on every field, filled from a recipe YAML and the CLI.

Each trainer declares one dataclass whose fields carry `metadata={"help": ...}` (use
`option(default, help)`). `build_config(cls, section, overrides)` layers the recipe's
section and the CLI's overrides over the defaults, refusing unknown keys with the list of
known ones; `add_config_arguments(parser, cls)` exposes every field as `--field-name`.
Knows nothing about what the stages do.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A recipe or command line names an unknown field or gives a value of the wrong type."""


def option(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field with help text (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _field_type(cls: type, f: dataclasses.Field) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[f.name]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def coerce(value: Any, tp: Any, name: str) -> Any:
    """Convert a YAML/CLI value to the field's type.

    >>> coerce("3", int, "epochs"), coerce("yes", bool, "lora"), coerce("none", int | None, "n")
    (3, True, None)
    >>> coerce("a,b", list[str], "stages")
    ['a', 'b']
    >>> coerce('["x=f.csv#fold=2/4", "y=f.csv#fold=0/4"]', list[str], "eval_files"), coerce("[]", list[str], "train")
    (['x=f.csv#fold=2/4', 'y=f.csv#fold=0/4'], [])
    """
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"{name}: a value is required (got null)")
    try:
        if base is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if base in (int, float, str):
            if base is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return base(value)
        if typing.get_origin(base) is list:
            (item,) = typing.get_args(base) or (str,)
            if isinstance(value, str) and value.strip().startswith("["):  # a YAML/JSON list, as a recipe writes it
                import yaml

                try:
                    value = yaml.safe_load(value)
                except yaml.YAMLError:
                    raise ValueError(value) from None
                if not isinstance(value, list):
                    raise ValueError(value)
            items = value.split(",") if isinstance(value, str) else list(value)
            return [coerce(v.strip() if isinstance(v, str) else v, item, name) for v in items if v != ""]
        if typing.get_origin(base) is dict or base is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {getattr(base, '__name__', base)}") from None
    return value


def build_config(cls: type, section: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None):
    """An instance of the config dataclass `cls`: defaults < recipe `section` < CLI `overrides`."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for source, data in (("recipe", section or {}), ("command line", overrides or {})):
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(
                    f"{cls.__name__}: unknown {source} key {key!r}; known keys: {', '.join(sorted(known))}"
                )
            values[name] = coerce(value, _field_type(cls, known[name]), f"{cls.__name__}.{name}")
    cfg = cls(**values)
    check = getattr(cfg, "validate", None)
    if callable(check):
        check()
    return cfg


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add `--field-name VALUE` for every field of `cls` (all default to None = not overridden)."""
    group = parser.add_argument_group(f"{cls.__name__} (override the recipe)")
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(_field_type(cls, f))
        shown = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        metavar = getattr(tp, "__name__", "VALUE").upper()
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f"cfg_{f.name}",
            default=None,
            metavar=metavar,
            help=f"{f.metadata.get('help', '')} (default: {shown!r})",
        )


def overrides_from_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The `--field` values given on the command line, by field name."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f"cfg_{f.name}", None)
        if value is not None:
            out[f.name] = value
    return out


def load_recipe(path: Path | str | None) -> dict[str, Any]:
    """A recipe YAML as a dict of sections ({} for None)."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe {p} does not exist")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {p} must be a mapping of sections (run, data, cot, sft, dpo, grpo, eval, …)")
    return data


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def missing_help(cls: type) -> list[str]:
    """Fields of `cls` without help text (a test asserts this is empty for every stage)."""
    return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("help")]
