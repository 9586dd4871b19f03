"""What an author might write, on a bad day: Markdown of every construct and shape, and
front matter and course.yml of every wrong type, for the authoring fuzz tests."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

# Text an author could type or paste: control characters, emoji, right-to-left marks,
# combining characters, lone punctuation that Markdown gives meaning to.
ODD_CHARACTERS = st.sampled_from(
    ["\x00", "\x01", "\x0b", "\x1b", "\x7f", "\x85", "\u200b", "\u200f", "\u202e", "\u2028",
     "\ufeff", "\ufffd", "😀", "👩‍👩‍👧", "שלום", "مرحبا", "é", "ﬁ", "\t", "\r", "\\", "`", "*",
     "_", "[", "]", "(", ")", "<", ">", "&", "#", "|", "!", "%%", "%%f1%%", "{", "}"]
)  # fmt: skip
words = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True),
    ODD_CHARACTERS,
)
phrases = st.lists(words, max_size=6).map(" ".join)

TEMPLATE_FRAGMENTS = st.sampled_from(
    ["{{ reader.first_name }}", '{{ reader.first_name | default("friend") }}',
     "{{ reader.first_name | upper }}", "{% if reader.first_name %}x{% endif %}",
     "{{ reader.email }}", "{{ lesson.number }}", "{{ course.title }}", "{{ issue.date }}",
     "{{ previous_lesson.url }}", "{{ nothing }}", "{{", "}}", "{%", "%}", "{#", "#}",
     "{{ 1 / 0 }}", "{{ lesson.number + 'a' }}", "{% for i in 5 %}{% endfor %}",
     "{{ ''.__class__.__mro__ }}", "{{ range(10**9) | list }}", "{{ 'a' * 10 }}",
     "{% raw %}", "{% endraw %}", "{% block x %}", "{% macro m() %}{% endmacro %}",
     "{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "{% set x = x %}", "{{ lipsum() }}",
     "{% include 'letter.mjml' %}", "{% extends 'x' %}", "{{ self }}", "{{ cycler }}"]
)  # fmt: skip

ODD_URLS = st.sampled_from(
    ["https://example.org/a b", "http://example.org", "javascript:alert(1)", "mailto:",
     "02-not-alone.md", "../remember-and-reclaim/issues/2026-12-01-naming-the-weather.md",
     "../../../../etc/passwd", "00-welcome.md#x", "#", "", "<>", "%%unsubscribe_url%%",
     "%%f1%%", "{{ reader.first_name }}", "https://[::1", "data:text/html,<b>x</b>",
     "\x00", "https://example.org/" + "a" * 3000, "file:///etc/passwd", "//evil.example"]
)  # fmt: skip
urls = ODD_URLS | st.text(max_size=30)


HTML_PIECES = [
    "<div>", "</div>", "<script>alert(1)</script>", "<!-- x", "<mj-raw>", "</mjml>",
    "<![CDATA[", "]]>", "<?php ?>", "&#0;", "&#x110000;", "&nbsp;&bogus;",
    "<img src=x onerror=alert(1)>", "<mj-section>",
]  # fmt: skip


def _fence(info: str, code: str, closed: bool) -> str:
    return f"```{info}\n{code}\n" + ("```\n" if closed else "")


def _table(cells: list[list[str]]) -> str:
    width = max(len(row) for row in cells)
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


blocks = st.one_of(
    phrases,
    st.builds(lambda n, text: "#" * n + " " + text, st.integers(1, 8), phrases),
    st.builds(lambda text: f"{text}\n===", phrases),
    st.lists(phrases, min_size=1, max_size=4).map(lambda items: "\n".join(f"- {i}" for i in items)),
    st.lists(phrases, min_size=1, max_size=4).map(
        lambda items: "\n".join(f"{n}. {i}" for n, i in enumerate(items, 99999998))
    ),
    st.builds(lambda depth, text: "  " * depth + "- " + text, st.integers(0, 60), phrases),
    st.builds(lambda depth, text: ">" * depth + " " + text, st.integers(1, 200), phrases),
    st.builds("[{}]({})".format, phrases, urls),
    st.builds('[{}]({} "{}")'.format, phrases, urls, phrases),
    st.builds("![{}]({})".format, phrases, urls),
    st.builds("[{}]: {}\n\n[{}][]".format, words, urls, words),
    st.builds("<{}>".format, urls),
    st.sampled_from(HTML_PIECES),
    st.builds(_fence, words, phrases, st.booleans()),
    st.builds(lambda text: "    " + text, phrases),
    st.lists(st.lists(phrases, min_size=1, max_size=4), min_size=1, max_size=4).map(_table),
    st.builds(lambda n, text: "*" * n + text + "_" * n, st.integers(1, 300), phrases),
    st.builds(lambda n: "`" * n, st.integers(1, 20)),
    st.builds(lambda piece, n: piece * n, words, st.integers(100, 3000)),  # long lines
    st.sampled_from(["---", "***", "___", "- - -", "|", "||", "\\", "  ", "\n\n\n"]),
    TEMPLATE_FRAGMENTS,
)
markdown_bodies = st.one_of(
    st.text(max_size=400),
    st.lists(blocks, min_size=1, max_size=12).map("\n\n".join),
    st.lists(blocks, min_size=1, max_size=12).map("\n".join),
)


# Front matter and course.yml: every known key with values of the wrong shape.

LETTER_KEYS = ["subject", "preheader", "content_note", "button", "due", "send_at_utc"]
PUBLICATION_KEYS = [
    "title", "description", "from_name", "from_email", "reply_to", "postal_address", "lang",
    "list", "offer_on_signup", "send_at", "theme", "cadence",
]  # fmt: skip
THEME_KEYS = ["accent", "background", "paper", "text", "logo", "footer", "progress", "layout"]
CADENCE_KEYS = [
    "every_days", "days_of_month", "weekdays", "first", "send_at", "send_until",
    "skip_weekends", "quiet_dates",
]  # fmt: skip

# Values that are almost what a key takes.
NEAR_MISSES = [
    "day 7", "on confirmation", "day -1", "day 99999999999999999999", "08:00", "25:61",
    "18:30", "2026-02-30", "2026-12-01T09:00:00Z", "Monday", "Funday", "#5b6f5a", "#zzz",
    "next day", "x.mjml", "../../etc/passwd.mjml", "{number} of {total}", "{0}", "{",
    "{number!r:>{total}}", "a@b", "en-GB", "https://example.org/logo.png",
]  # fmt: skip
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    phrases,
    st.sampled_from(NEAR_MISSES),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(words, inner, max_size=3),
    max_leaves=8,
)


def mapping_of(keys: list[str], nested: dict[str, list[str]]) -> st.SearchStrategy[dict]:
    """Some of `keys` (and unknown ones) with values of any shape, nested keys likewise."""
    values: dict[str, st.SearchStrategy[Any]] = dict.fromkeys(keys, yaml_values)
    for key, inner in nested.items():
        values[key] = yaml_values | st.fixed_dictionaries(
            {}, optional=dict.fromkeys(inner, yaml_values)
        )
    known = st.fixed_dictionaries({}, optional=values)
    unknown = st.dictionaries(words, yaml_values, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


def dumped(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# YAML an author writes by hand, which a dumper never would.
HANDWRITTEN = st.sampled_from(
    ["subject: x\nsubject: y", "a: &x [*x]", "subject: &s x\npreheader: *s", "<<: {subject: x}",
     "<<: 5", "subject: *nothing", "\tsubject: x", "subject: 'x", 'subject: "x', "subject: [x",
     "? [a]\n: b", "subject: !!python/object:os.system x", "subject: !!binary aGk=",
     "subject: !!set {a}", "subject: !!timestamp 2026-01-01", "subject: !custom x",
     "%YAML 1.1\n---\nsubject: x", "--- x\n--- y", "...", "subject: |\n  a\n  b",
     "subject: x\n  bad: indent", "due: 1" + "0" * 5000, "subject: \ufeffx", "- a\n- b",
     "just text", "subject:\x00x", "subject: x\x85y", "due: 0b2", "due: 0x", "every_days: 1e999",
     "cadence: {every_days: .nan}", "subject: " + "[" * 500, "subject: " + "{a: " * 300]
)  # fmt: skip
letter_heads = st.one_of(
    mapping_of(LETTER_KEYS, {"button": ["label", "url"]}).map(dumped),
    HANDWRITTEN,
    st.text(max_size=120),
    st.builds(lambda a, b: a + "\n" + b, HANDWRITTEN, mapping_of(LETTER_KEYS, {}).map(dumped)),
)
course_ymls = st.one_of(
    mapping_of(PUBLICATION_KEYS, {"theme": THEME_KEYS, "cadence": CADENCE_KEYS}).map(dumped),
    HANDWRITTEN,
    st.text(max_size=120),
)
# How the front matter is framed in the file: well, or with what goes wrong around it.
FRAMES = st.sampled_from(
    ["---\n{head}\n---\n\n{body}", "---\n{head}\n---\n{body}", "\ufeff---\n{head}\n---\n{body}",
     "---\n{head}\n\n{body}", "{body}", "---\r\n{head}\r\n---\r\n{body}", "---\n---\n{body}",
     "----\n{head}\n-----\n{body}", "---\n{head}\n---\n---\n{body}", "---  \n{head}\n---\t\n{body}"]
)  # fmt: skip
