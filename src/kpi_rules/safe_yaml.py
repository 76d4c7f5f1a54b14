"""A safe YAML loader for untrusted data files (records, catalogues).

Built on ``yaml.SafeLoader``, with three changes: duplicate keys are rejected, dates are not
converted implicitly (``2026-01-01`` stays text until a declared ``date`` field reads it), and
anchors/aliases are refused (no "billion laughs"). Nesting is limited.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_DEPTH = 64


class SafeYamlError(ValueError):
    """A YAML problem, with its line and column in the message."""


class _Loader(yaml.SafeLoader):
    pass


# No implicit timestamps, and only true/false as booleans (YAML 1.1 also reads yes/no/on/off,
# so a key `on:` would become True): copy the resolvers with those changes, on this subclass only.
_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", _BOOL)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _position(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _check(node: yaml.Node, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SafeYamlError(f"nested more than {MAX_DEPTH} levels deep at {_position(node)}")
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                raise SafeYamlError(
                    f"duplicate key `{key}` at {_position(key_node)} (first at {_position(seen[key])})"
                )
            seen[key] = key_node
            _check(key_node, depth + 1)
            _check(value_node, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check(item, depth + 1)


def _refuse_aliases(text: str) -> None:
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise SafeYamlError(f"anchors and aliases are not allowed{where}")


def load_safe_yaml(text: str) -> Any:
    """Parse one YAML document safely. Raises SafeYamlError for any problem."""
    try:
        _refuse_aliases(text)
        node = yaml.compose(text, Loader=_Loader)
        if node is None:
            return None
        _check(node, 0)
        loader = _Loader(text)
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except SafeYamlError:
        raise
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SafeYamlError(f"invalid YAML{where}: {error.problem}") from None
    except (yaml.YAMLError, RecursionError) as error:
        raise SafeYamlError(f"invalid YAML: {error}") from None
