"""Declarative configs: YAML files read into (nested) dataclasses, strictly.

Every task and the runner describe their settings as dataclasses. `load_config`
reads a YAML file into one, applies `key.sub_key=value` overrides (from absl
flags), and rejects what does not fit with an error that names the file and the
key: unknown keys, wrong types, a malformed file.

Example:
>>> @dataclasses.dataclass
... class Optim:
...     learning_rate: float = 1e-4
>>> @dataclasses.dataclass
... class Cfg:
...     steps: int = 10
...     optimizer: Optim = dataclasses.field(default_factory=Optim)
>>> load_config(Cfg, None, {"optimizer.learning_rate": "3e-4"}).optimizer.learning_rate
0.0003
"""

import dataclasses
import os
import typing

import yaml


class ConfigError(ValueError):
    """A config file or override is malformed or names a key that does not exist."""


def _field_types(cls):
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value, annotation, where):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:  # Optional[X]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}.")
        return _build(annotation, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}.")
        item = args[0] if args else typing.Any
        return origin(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}.")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, got {value!r}.")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}.")
        try:
            number = float(value) if isinstance(value, str) else value
            if annotation is int:
                if float(number) != int(float(number)):
                    raise ValueError
                return int(float(number))
            return float(number)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}.") from None
    if annotation is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}: expected a string, got {value!r}.")
        return str(value)
    return value


def _build(cls, values, where):
    types = _field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"valid keys are {', '.join(sorted(types))}.")
    kwargs = {name: _coerce(v, types[name], f"{where}.{name}" if where else name)
              for name, v in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from e


def read_yaml(path):
    """The mapping in a YAML file, with clear errors for a missing or malformed file."""
    if not os.path.isfile(path):
        raise ConfigError(f"Config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"Config file {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping at the top level.")
    return data


def apply_overrides(values, overrides, where="override"):
    """Sets dotted keys (`"optimizer.learning_rate": "1e-4"`) in a nested dict."""
    values = dict(values)
    for dotted, value in (overrides or {}).items():
        node = values
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass
        node[parts[-1]] = value
    return values


def load_config(cls, path=None, overrides=None):
    """Builds dataclass `cls` from the YAML file `path` (or defaults) and overrides."""
    values = read_yaml(path) if path else {}
    values = apply_overrides(values, overrides)
    return _build(cls, values, os.path.basename(path) if path else "")


def config_to_dict(config):
    """A plain dict of a config dataclass, for logs and `summary.json`."""
    return dataclasses.asdict(config)


def parse_override_flags(items):
    """`["a.b=1", "c=x"]` (a repeated `--set` flag) -> `{"a.b": "1", "c": "x"}`."""
    overrides = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"Override {item!r} must look like key=value.")
        key, value = item.split("=", 1)
        if not key.strip():
            raise ConfigError(f"Override {item!r} has an empty key.")
        overrides[key.strip()] = value
    return overrides
