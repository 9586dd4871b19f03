"""YAML with line numbers, so a mistake can be reported where the author made it."""

from __future__ import annotations

from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


class YamlError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse(text: str, first_line: int = 1) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML and map each key's path to its line (counting from `first_line`)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        # The context mark is where the broken construct began (an unclosed quote's
        # opening), which is where the author must look; the problem mark may be the end.
        mark = error.context_mark or error.problem_mark
        line = first_line + (mark.line if mark else 0)
        what = " ".join(part for part in (error.problem, error.context) if part)
        raise YamlError(line, f"this is not valid YAML: {what or error}") from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _collect(node, (), first_line, lines)
    return data, lines


def _collect(node: yaml.Node, path: KeyPath, first: int, lines: dict[KeyPath, int]) -> None:
    lines[path] = first + node.start_mark.line
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            _collect(value, child, first, lines)
            lines[child] = first + key.start_mark.line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect(item, (*path, index), first, lines)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int:
    """The line of the deepest part of `path` that exists (a missing key: its parent's)."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)
