"""YAML with line numbers, so a mistake can be reported where the author made it."""

from __future__ import annotations

import re
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


class Loader(yaml.SafeLoader):
    """YAML 1.1 without base-60 numbers, so `send_at: 18:30` stays the text "18:30" (plain
    YAML reads it as 1110), and without timestamps, so a date is checked where it is used
    and a wrong one (2026-02-30) is reported on its line instead of failing the parse."""


_REPLACED = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
        r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: Loader, node: yaml.ScalarNode) -> int:
    # Python refuses to read an integer of more than 4,300 digits (a ValueError, which
    # carries no line): report it as YAML's own error, at the number.
    try:
        return loader.construct_yaml_int(node)
    except ValueError:
        message = "this number has too many digits"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class YamlError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse(text: str, first_line: int = 1) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML and map each key's path to its line (counting from `first_line`)."""
    try:
        node = yaml.compose(text, Loader=Loader)
        data = yaml.load(text, Loader=Loader)  # noqa: S506  (Loader is a SafeLoader)
    except yaml.MarkedYAMLError as error:
        # The context mark is where the broken construct began (an unclosed quote's
        # opening), which is where the author must look; the problem mark may be the end.
        mark = error.context_mark or error.problem_mark
        line = first_line + (mark.line if mark else 0)
        what = " ".join(part for part in (error.problem, error.context) if part)
        raise YamlError(line, f"this is not valid YAML: {what or error}") from None
    except yaml.reader.ReaderError as error:
        # A character YAML does not allow (a control character): it has a position only.
        line = first_line + text[: error.position].count("\n")
        what = f"{error.reason} (#x{error.character:04x})"
        raise YamlError(line, f"this is not valid YAML: {what}") from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _collect(node, (), first_line, lines, set())
    return data, lines


def _collect(
    node: yaml.Node, path: KeyPath, first: int, lines: dict[KeyPath, int], seen: set[int]
) -> None:
    # An alias is the node it names, met again: walk each node once, or an alias inside its
    # own anchor (`a: &x [*x]`) never ends and nested aliases grow exponentially.
    lines[path] = first + node.start_mark.line
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            _collect(value, child, first, lines, seen)
            lines[child] = first + key.start_mark.line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect(item, (*path, index), first, lines, seen)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int:
    """The line of the deepest part of `path` that exists (a missing key: its parent's)."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)
