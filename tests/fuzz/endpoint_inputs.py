"""What anyone on the internet might send Tend's public pages: odd text, bytes that are not
UTF-8, forms with repeated, nested and huge fields, JSON of any shape, any Content-Type;
and SendGrid event batches whose fields hold anything."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

# The fields Tend's forms read, so a drawn form reaches past "field missing".
FIELDS = [
    "email", "first_name", "timezone", "consent", "wanted", "chosen", "website", "course",
    "action", "weeks", "list_name", "turn", "List-Unsubscribe", "csrf_token",
]  # fmt: skip
ODD_TEXT = [
    "", " ", "\x00", "a\x00b", "\r\nBcc: x@example.org", "\ud7ff", "\ufeff", "\u202e", "😀",
    "İ" * 200, "<script>alert(1)</script>", "{{ 7 * 7 }}", "%%f1%%", "' OR 1=1 --", "../..",
    "One-Click", "y", "on", "0", "-1", "9" * 400, "reader@example.org", "Europe/Paris",
    "softening-sessions", "remember-and-reclaim", "pause", "stop", "a[b][c]",
]  # fmt: skip
text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(max_size=60),
    st.builds(lambda piece, n: piece * n, st.text(min_size=1, max_size=3), st.integers(1, 400)),
)
# Past the 64 KB a request body may hold, or just under it.
huge_text = st.builds(lambda piece, n: piece * n, st.sampled_from(["a", "é", "😀"]),
                      st.sampled_from([16_000, 21_000, 70_000]))  # fmt: skip
# A name with a line break is sent in a multipart body as a part with no name at all.
ODD_NAMES = ["a[b]", "a[]", "a.b", "", "\n", "a\r\nb", '"', "x" * 300]
field_names = st.sampled_from(FIELDS) | st.sampled_from(ODD_NAMES)
field_names |= st.text(max_size=20)
# A list value posts the field once per item: repeated keys.
forms = st.dictionaries(field_names, text | st.lists(text, max_size=4), max_size=6)

# A form close to one of ours: each field with a value it takes or one it almost takes,
# so that a drawn post reaches past the form's validation into the handler.
PLAUSIBLE = {
    "email": ["reader@example.org", "Reader@Example.ORG", "new@example.org", "x@", "a@b"],
    "first_name": ["Sam", "", " ", "İ" * 101],
    "timezone": ["UTC", "Europe/Paris", "Mars/Olympus", ""],
    "consent": ["y", "", "on"],
    "wanted": ["softening-sessions", "remember-and-reclaim", "nothing"],
    "chosen": ["y", ""],
    "course": ["softening-sessions", "remember-and-reclaim", "no-such-course"],
    "action": ["pause", "resume", "slow-down", "usual-pace", "restart", "start", "explode"],
    "weeks": ["", "2", "4", "0", "-1", "9" * 30],
    "list_name": ["remember-and-reclaim", "softening-sessions", "nothing"],
    "turn": ["on", "off", "maybe"],
    "List-Unsubscribe": ["One-Click", "one-click", ""],
}
# A form each handler takes, to start from: a signup, a course's and a list's buttons,
# the reader's details, RFC 8058's one-click unsubscribe.
VALID_FORMS = [
    {"email": "new@example.org", "first_name": "Sam", "timezone": "Europe/Paris", "consent": "y"},
    {"course": "softening-sessions", "action": "pause", "weeks": "2"},
    {"list_name": "remember-and-reclaim", "turn": "off"},
    {"first_name": "Sam", "timezone": "UTC"},
    {"List-Unsubscribe": "One-Click"},
]
missing = st.just(None)


@st.composite
def plausible_forms(draw: st.DrawFn) -> dict[str, Any]:
    """A form a handler takes, with a few fields changed (often none) or left out."""
    form: dict[str, Any] = dict(draw(st.sampled_from(VALID_FORMS)))
    for name in draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), max_size=3)):
        values = st.sampled_from(PLAUSIBLE[name])
        form[name] = draw(values | text | st.lists(values | text, max_size=3) | missing)
    return {name: value for name, value in form.items() if value is not None}


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
# Past Python's recursion limit for the JSON parser: arrays or objects inside each other.
deeply_nested = st.builds(
    lambda pair, depth: (pair[0] * depth + pair[1] * depth).encode(),
    st.sampled_from([("[", "]"), ('{"a":', "}")]),
    st.integers(50, 30000),
)


def json_body(value: Any) -> bytes:
    """JSON as a client would send it; lone surrogates become bytes no decoder takes."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def urlencoded(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A form body percent-encoded from raw bytes: its values need not be UTF-8."""
    return b"&".join(quote_from_bytes(k).encode() + b"=" + quote_from_bytes(v).encode()
                     for k, v in pairs)  # fmt: skip


CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-16", "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1", "multipart/form-data",
    "multipart/form-data; boundary=x", "multipart/form-data; boundary=", "text/plain",
    "text/html", "application/xml", "application/octet-stream", "", "garbage", ";;;",
    "multipart/mixed; boundary=" + "b" * 200,
]  # fmt: skip
content_types = st.sampled_from(CONTENT_TYPES) | st.text(
    st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Arguments of the test client's `open` for one request body, of any kind."""
    kinds = ["none", "plausible", "plausible", "form", "raw form", "multipart", "multipart",
             "json", "bytes", "huge"]  # fmt: skip
    kind = draw(st.sampled_from(kinds))
    if kind == "huge":
        return {"data": {draw(st.sampled_from(FIELDS)): draw(huge_text)}}
    if kind == "plausible":
        return {"data": draw(plausible_forms())}
    if kind == "form":
        return {"data": draw(forms)}
    if kind == "raw form":
        pairs = st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=200)), max_size=5)
        return {"data": urlencoded(draw(pairs)), "content_type": draw(content_types)}
    if kind == "multipart":
        form: dict[str, Any] = draw(forms)
        upload = (io.BytesIO(draw(st.binary(max_size=3000))), draw(st.text(max_size=30)))
        form[draw(field_names)] = upload
        if draw(st.booleans()):
            form["\n"] = draw(text)  # sent as a part without a name
        return {"data": form, "content_type": "multipart/form-data"}
    if kind == "json":
        raw = json_body(draw(json_values)) if draw(st.booleans()) else draw(deeply_nested)
        return {"data": raw, "content_type": draw(st.just("application/json") | content_types)}
    if kind == "bytes":
        return {"data": draw(st.binary(max_size=3000)), "content_type": draw(content_types)}
    return {}


queries = st.one_of(
    st.dictionaries(field_names, text | st.lists(text, max_size=3), max_size=4),
    st.binary(max_size=200).map(lambda raw: quote_from_bytes(raw, safe="=&%")),
)


# SendGrid events: the fields Tend reads, with what SendGrid sends or anything at all.
EVENT_KINDS = ["processed", "delivered", "deferred", "bounce", "dropped", "spamreport",
               "unsubscribe", "group_unsubscribe", "open", "click"]  # fmt: skip


@st.composite
def mostly(draw: st.DrawFn, usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
    """A usual value three times in four (and while shrinking), else an odd one."""
    return draw(odd) if draw(st.integers(0, 3)) == 3 else draw(usual)


def event_batches(delivery_ids: list[int], emails: list[str]) -> st.SearchStrategy[Any]:
    """Batches of events about these deliveries and addresses, or of any shape."""
    address = mostly(st.sampled_from(emails) | st.sampled_from(emails).map(str.upper), text)
    delivery = st.sampled_from(delivery_ids) | st.sampled_from(delivery_ids).map(str)
    event = st.fixed_dictionaries(
        {  # mostly as SendGrid sends them: one field wrong refuses the whole batch
            "sg_event_id": mostly(st.text(min_size=1, max_size=30), json_values),
            "event": mostly(st.sampled_from(EVENT_KINDS), json_values),
            "email": mostly(address, json_values),
        },
        optional={
            "timestamp": mostly(st.integers(0, 2**34), st.floats() | json_values),
            "sg_message_id": text | json_values,
            "tend_delivery": delivery | json_values,
            "type": st.sampled_from(["bounce", "blocked"]) | json_values,
            "reason": text | json_values,
            "response": text,
            "category": st.lists(text, max_size=3),
        },
    )
    extra = st.dictionaries(text, json_values, max_size=2)
    events = st.builds(lambda known, more: {**more, **known}, event, extra)
    odd = st.lists(events | json_values, max_size=4) | json_values
    return mostly(st.lists(events, min_size=1, max_size=6), odd)
