"""Text for the reports, pure: untrusted text made inert in GitHub-flavoured markdown, and the shared cuts.

`cut`, `one_line` and `BIDI_CONTROLS` serve every report (and the headline); `comment_marker` is the
hidden marker every forge finds ci-track's comment by; `fit_to_limit` and `shortened_note` are the one
way a report is cut to a forge's size limit (the markdown renderer's last resort, the forge's comment
and check bodies), with the one note saying what was left out and where the full report is.

Branch names, metric names, param values, PR titles and run names come from people we do not
trust (a fork PR can name its branch anything). Everything of theirs that reaches a markdown
document (the PR comment, the job summary, MLflow's run description) goes through
`escape_inline`, which returns text that renders as exactly those characters on one line:

- markdown syntax (emphasis, code spans, links, images, headings, lists, math, strikethrough)
  is backslash-escaped;
- `<`, `>` and `&` become entities, so no raw HTML, no `<!--` comment (which could hide the rest
  of the report or forge ci-track's marker) and no `<autolink>` survives;
- `:` is escaped so `https://...`, `www.` and `javascript:` are not turned into links by GFM's
  autolink extension, and `@`/`#` get a zero-width space so GitHub makes no @-mention (no
  notification) and no `#123` cross-reference;
- `|` becomes `&#124;`, so a value cannot add a column to a table row;
- line breaks and other control characters become a space or U+FFFD, so nothing starts a new
  block (a heading, a list, a fake table);
- Unicode bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) become U+FFFD,
  so text cannot reorder itself to show something other than what it is ("Trojan Source").

`safe_url` and `link` are for the URLs ci-track builds itself (MLflow UI, CI build): only
http(s), without credentials, with the characters that could end a markdown link encoded.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence

ZERO_WIDTH_SPACE = "\u200b"
REPLACEMENT = "\ufffd"

# Characters that GFM gives meaning to inline, escaped with a backslash (all ASCII punctuation,
# so the escape is always honoured).
_BACKSLASHED = frozenset("\\`*_[]()!~$:")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;"}
_LINE_BREAKS = frozenset("\r\n\v\f\x85\u2028\u2029")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# A block marker at the start of the text matters only if a caller puts the text at the start of a line.
# ("- x", "+ x", "--", "===", "1. x", "2)" would start a list, a rule or a setext heading; "-5" and "0.5" would not.)
_LEADING_BLOCK_MARKER = re.compile(r"^(\s*)([-+=](?=[-+=\s]|$)|\d{1,9}(?=[.)](?:\s|$)))")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def escape_inline(text: object, *, max_length: int | None = None) -> str:
    """`text` as markdown that renders literally, on one line (see the module docstring).

    `max_length` cuts the original text (before escaping) to that many characters, ending with "…".
    """
    raw = "" if text is None else str(text)
    if max_length is not None and len(raw) > max_length:
        raw = raw[: max(max_length - 1, 0)] + "…"
    out: list[str] = []
    for char in raw:
        if char in _LINE_BREAKS or char == "\t":
            out.append(" ")
        elif char in BIDI_CONTROLS or _is_control(char):
            out.append(REPLACEMENT)
        elif char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _BACKSLASHED:
            out.append("\\" + char)
        elif char == "@":
            out.append("@" + ZERO_WIDTH_SPACE)
        elif char == "#":
            out.append("\\#" + ZERO_WIDTH_SPACE)
        else:
            out.append(char)
    escaped = "".join(out)
    escaped = _WWW.sub(lambda m: m.group(1) + "\\.", escaped)
    if escaped.startswith("    "):
        escaped = "&#32;" + escaped[1:]  # four spaces at the start of a line would open a code block
    return _LEADING_BLOCK_MARKER.sub(_escape_marker, escaped, count=1)


def _escape_marker(match: re.Match[str]) -> str:
    marker = match.group(2)
    if marker.isdigit():
        # "1. text" would start an ordered list: escape the dot/paren that follows instead.
        return match.group(1) + marker + "\\"
    return match.group(1) + "\\" + marker


_URL_UNSAFE = re.compile(r"[\s<>()\"'`|\\\[\]{}^]")


def safe_url(url: str | None) -> str | None:
    """`url` usable as a markdown link target, or None when it is not a plain http(s) URL.

    Credentials (`user:token@`) are removed; characters that could end the link or a table cell
    are percent-encoded.
    """
    if not url:
        return None
    if any(_is_control(c) or c in BIDI_CONTROLS for c in url):
        return None
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    cleaned = urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))
    return _URL_UNSAFE.sub(lambda m: f"%{ord(m.group(0)):02X}", cleaned)


def link(label: object, url: str | None, *, max_length: int | None = None) -> str:
    """`[label](url)` with the label escaped, or just the escaped label when the URL is not safe."""
    text = escape_inline(label, max_length=max_length)
    target = safe_url(url)
    return f"[{text}]({target})" if target else text


def one_line(text: str) -> str:
    """`text` with every C0/C1 control character (line breaks included) replaced by a space."""
    return "".join(" " if _is_control(c) else c for c in text)


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and "…" (exactly `limit` characters)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def comment_marker(key: str) -> str:
    """The hidden marker of ci-track's comment for `key` (e.g. the experiment): `<!-- ci-track:key -->`.

    Characters that could end the HTML comment are replaced; the closing ` -->` keeps the marker of
    `model` from matching the comment of `model-v2`.
    """
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._/-]", "-", key)).strip("-") or "default"
    return f"<!-- ci-track:{cleaned} -->"


def shortened_note(omitted: Sequence[str]) -> str:
    """The note a shortened report carries: what was left out, and where the full report is."""
    return (
        f"✂️ This report was shortened to fit GitHub's comment limit ({', '.join(omitted)} left out). "
        "The full report is in the CI job summary and in report.md."
    )


_CLOSERS = ("\n```", "\n</details>")


def fit_to_limit(text: str, marker: str, limit: int, *, omitted: Sequence[str] = ()) -> tuple[str, bool]:
    """`text` with `marker` in it, at most `limit` characters: (text, was it cut?).

    A cut happens at a line break after the marker, closes an open code fence or <details>, and
    ends with `shortened_note` (`omitted` plus the end of the report), so the result stays valid
    markdown and findable by its marker (moved to the front when it sat beyond the cut).
    """
    if marker and marker not in text:
        text = f"{marker}\n{text}"
    if len(text) <= limit:
        return text, False
    tail = "\n\n> " + shortened_note([*omitted, "the end of the report"]) + "\n"
    budget = limit - len(tail) - sum(map(len, _CLOSERS))
    if marker and marker not in text[:budget]:
        text = f"{marker}\n" + text.replace(marker, "")  # the marker must survive the cut
    head = text[:budget]
    line_end = head.rfind("\n")
    if line_end > (head.find(marker) + len(marker) if marker else 0):
        head = head[:line_end]
    if head.count("```") % 2:
        head += _CLOSERS[0]
    if head.count("<details") > head.count("</details>"):
        head += _CLOSERS[1]
    return head + tail, True
