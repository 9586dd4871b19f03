"""Render markdown-it tokens as plain text that reads well in any mail client.

Links become "text (url)", emphasis marks go, lists keep their bullets and numbers,
quotes keep "> ", and paragraphs are separated by one blank line.
"""

from __future__ import annotations

from markdown_it.token import Token


class TextRenderer:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.tight: list[bool] = []  # per block: follows the one before with no blank line
        self.quoted: list[int] = []  # per block: how many quotes it stands in
        self.hidden = False  # in a paragraph of a tight list
        self.last_hidden = False  # the last block came from a tight list's paragraph
        self.first_item = False  # the next block starts a list
        self.prefixes: list[str] = []  # "> " for quotes, list markers for items
        self.counters: list[int | None] = []  # one per open list: None bullet, n ordered
        self.heading: str | None = None  # the underline character while in a heading
        self.row: list[str] | None = None  # the cells of the table row being read
        self.rows: list[str] = []  # the rows of the table being read

    def render(self, tokens: list[Token]) -> str:
        for token in tokens:
            handler = getattr(self, f"_{token.type}", None)
            if handler is not None:
                handler(token)
        out = self.blocks[0].rstrip() if self.blocks else ""
        for index in range(1, len(self.blocks)):
            out += self._separator(index) + self.blocks[index].rstrip()
        return out + "\n"

    def _separator(self, index: int) -> str:
        if self.tight[index]:
            return "\n"
        # Between two paragraphs of one quote, the blank line is quoted too.
        shared = min(self.quoted[index - 1], self.quoted[index])
        return "\n" + ("> " * shared).rstrip() + "\n"

    def _emit(self, text: str) -> None:
        if not text.strip():
            return
        first, rest = self._prefix()
        lines = text.split("\n")
        starts_item = bool(self.prefixes) and self.prefixes[-1].strip() not in ("", ">")
        self.tight.append(self.hidden and starts_item and not self.first_item)
        self.quoted.append(self.prefixes.count("> "))
        self.first_item = False
        self.last_hidden = self.hidden
        self.blocks.append("\n".join([first + lines[0], *(rest + line for line in lines[1:])]))
        # An item's marker prints once, on its first block.
        if self.prefixes and self.prefixes[-1] not in ("> ",):
            self.prefixes[-1] = " " * len(self.prefixes[-1])

    def _prefix(self) -> tuple[str, str]:
        first = "".join(self.prefixes)
        rest = "".join(p if p == "> " else " " * len(p) for p in self.prefixes)
        return first, rest

    def _inline(self, token: Token) -> None:
        text = inline_text(token.children or [])
        if self.row is not None:
            self.row.append(text)
        elif self.heading is not None:
            self._emit(f"{text}\n{self.heading * len(text)}")
        else:
            self._emit(text)

    def _paragraph_open(self, token: Token) -> None:
        self.hidden = token.hidden

    def _paragraph_close(self, _token: Token) -> None:
        self.hidden = False

    def _heading_open(self, token: Token) -> None:
        self.heading = "=" if token.tag == "h1" else "-"

    def _heading_close(self, _token: Token) -> None:
        self.heading = None

    def _tr_open(self, _token: Token) -> None:
        self.row = []

    def _tr_close(self, _token: Token) -> None:
        self.rows.append(" | ".join(self.row or []))
        self.row = None

    def _table_close(self, _token: Token) -> None:
        self._emit("\n".join(self.rows))
        self.rows = []

    def _fence(self, token: Token) -> None:
        self._emit(token.content.rstrip("\n"))

    _code_block = _fence

    def _hr(self, _token: Token) -> None:
        self._emit("* * *")

    def _blockquote_open(self, _token: Token) -> None:
        self.prefixes.append("> ")

    def _blockquote_close(self, _token: Token) -> None:
        self.prefixes.pop()

    def _bullet_list_open(self, _token: Token) -> None:
        self.counters.append(None)
        self._start_list()

    def _ordered_list_open(self, token: Token) -> None:
        self.counters.append(int(token.attrGet("start") or 1))
        self._start_list()

    def _start_list(self) -> None:
        # A list nested in a tight list's item follows it with no blank line.
        self.first_item = not (self.prefixes and self.last_hidden)

    def _bullet_list_close(self, _token: Token) -> None:
        self.counters.pop()

    _ordered_list_close = _bullet_list_close

    def _list_item_open(self, _token: Token) -> None:
        counter = self.counters[-1]
        if counter is None:
            self.prefixes.append("- ")
        else:
            self.prefixes.append(f"{counter}. ")
            self.counters[-1] = counter + 1

    def _list_item_close(self, _token: Token) -> None:
        self.prefixes.pop()


def inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    links: list[tuple[str, int]] = []  # each open link's address and where its text starts
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "link_open":
            links.append((str(child.attrGet("href") or ""), len(parts)))
        elif child.type == "link_close":
            href, start = links.pop()
            text = "".join(parts[start:])
            if href not in (text, f"mailto:{text}"):  # an autolink shows its address already
                parts.append(f" ({href})")
        elif child.type == "image":
            parts.append(child.content or "")
    return "".join(parts)
