"""Glob patterns with the target semantics of rules P1-P8 (see conformance/README.md).

A pattern matches the whole key (P1), compared as text decoded lossily from UTF-8 (P7).
``*`` is any run within one segment, ``?`` one character of a segment, ``**`` as a whole
segment zero or more segments (P2-P4). Names beginning with a dot get no special treatment
(P5). ``[abc]``, ``[a-z]``, ``[!a]`` classes and ``{a,b}`` alternatives are glob syntax,
``\\`` escapes the next character, everything else is literal (P6). The empty pattern is
refused (P8).
"""

import re

__all__ = ["compile_pattern", "key_text"]


def key_text(key):
    """The key as text: invalid UTF-8 becomes U+FFFD, which is never a slash (P7)."""
    return key.decode("utf-8", errors="replace")


def compile_pattern(pattern):
    """An anchored regular expression for ``pattern``; ValueError for a bad pattern."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string, got {type(pattern).__name__}")
    if pattern == "":
        raise ValueError("pattern must not be empty (rule P8)")
    if pattern.startswith("./"):
        raise ValueError(f"pattern {pattern!r} starts with './'; patterns match whole keys")
    alternatives = _expand_braces(_plain_slashes(pattern))
    for alternative in alternatives:
        if alternative.startswith("./"):
            raise ValueError(f"pattern {pattern!r} has an alternative starting with './' ({alternative!r})")
    return re.compile("|".join(f"(?:{_compile_one(p)})" for p in alternatives), re.DOTALL)


def _plain_slashes(pattern):
    """``\\/`` is ``/``: a slash has one meaning, the separator, so escaping it changes nothing
    (``users\\/**`` is ``users/**``). An escaped backslash stays as it is."""
    out, i = "", 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out += "/" if pattern[i + 1] == "/" else pattern[i : i + 2]
            i += 2
        else:
            out += pattern[i]
            i += 1
    return out


def _expand_braces(pattern):
    """Bash-style brace expansion: ``a.{json,yaml}`` -> ``a.json``, ``a.yaml``."""
    depth = 0
    start = None
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                head, tail = pattern[:start], pattern[i + 1 :]
                options = _split_top_level(inner)
                if len(options) == 1:
                    values = _range_values(inner, pattern)
                    if values is not None:
                        return [head + v + t for v in values for t in _expand_braces(tail)]
                    # `{a}` has nothing to choose between: the braces are literal.
                    return [head + "\\{" + o + "\\}" + t for o in _expand_braces(inner) for t in _expand_braces(tail)]
                return [head + o + t for option in options for o in _expand_braces(option) for t in _expand_braces(tail)]
        i += 1
    if depth > 0:
        raise ValueError(f"pattern {pattern!r} is not a valid glob (unbalanced brace)")
    return [pattern]


_NUMBER_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$")
_LETTER_RANGE = re.compile(r"^(?:([a-z])\.\.([a-z])|([A-Z])\.\.([A-Z]))(?:\.\.(-?\d+))?$")


def _range_values(body, pattern):
    """Shell ranges: ``1..10``, ``01..10`` (zero-padded), ``a..e``, with an optional ``..step``."""
    if ".." not in body:
        return None
    numbers = _NUMBER_RANGE.match(body)
    letters = None if numbers else _LETTER_RANGE.match(body)
    if not numbers and not letters:
        if re.search(r"[{}\\]", body):
            return None
        raise ValueError(f"pattern {pattern!r} has {{{body}}}, which is not a range")
    if numbers:
        first, last, step = numbers.groups()
        lo, hi = int(first), int(last)
    else:
        g = letters.groups()
        first, last, step = g[0] or g[2], g[1] or g[3], g[4]
        lo, hi = ord(first), ord(last)
    step = abs(int(step or 1)) or 1
    count = abs(hi - lo) // step + 1
    if count > 256:
        raise ValueError(f"pattern {pattern!r} expands to more than 256 alternatives")
    direction = step if lo <= hi else -step
    values = [lo + k * direction for k in range(count)]
    if letters:
        return [chr(v) for v in values]
    width = max(len(first), len(last)) if re.match(r"^-?0\d", first) or re.match(r"^-?0\d", last) else 0
    return [("-" + str(-v).zfill(width - 1)) if v < 0 else str(v).zfill(width) for v in values]


def _split_top_level(text):
    parts, depth, current, i = [], 0, "", 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    parts.append(current)
    return parts


def _compile_one(pattern):
    segments = pattern.split("/")
    # `**/**` matches what `**` matches (P3, P4): a run of globstars is one.
    segments = [s for i, s in enumerate(segments) if not (s == "**" and i > 0 and segments[i - 1] == "**")]
    if segments == ["**"]:
        return ".*"
    out = ""
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            if last:
                # `users/**` also matches `users` itself (P4).
                out += "(?:/.*)?"
            else:
                out += ("/" if i > 0 else "") + "(?:[^/]*/)*"
            continue
        if i > 0 and segments[i - 1] != "**":
            out += "/"
        out += _compile_segment(segment)
    return out


def _compile_segment(segment):
    out = ""
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "\\":
            if i + 1 >= len(segment):
                raise ValueError(f"pattern segment {segment!r} ends with a lone backslash")
            out += re.escape(segment[i + 1])
            i += 2
        elif c == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
            i += 1
        elif c == "[":
            end, cls = _parse_class(segment, i)
            if cls is None:
                out += re.escape(c)
                i += 1
            else:
                out += cls
                i = end
        else:
            out += re.escape(c)
            i += 1
    return out


def _parse_class(segment, start):
    """`[abc]`, `[a-z]`, `[!a]` or `[^a]` at ``start``; (end, regex) or (start, None) if unclosed."""
    i = start + 1
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    body = ""
    first = True
    while i < len(segment):
        c = segment[i]
        if c == "]" and not first:
            # A class never matches the separator, negated or not, even through a range
            # that spans it (`[+-0]`).
            if re.search(r"(?<!\\)\[:[A-Za-z]*:", segment[start + 1 : i]):
                raise ValueError(f"pattern segment {segment!r} has a POSIX class, which patterns do not support")
            return i + 1, ("[^/" if negate else "(?!/)[") + body + "]"
        if c == "\\" and i + 1 < len(segment):
            body += re.escape(segment[i + 1])
            i += 2
        elif c == "-" and body and i + 1 < len(segment) and segment[i + 1] != "]":
            body += "-"
            i += 1
        else:
            body += re.escape(c) if c not in "-" else "\\-"
            i += 1
        first = False
    return start, None
