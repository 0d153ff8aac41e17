"""Long paths and URIs in narrow tables: broken only after a '/', never inside a name.

A path cut in the middle of a word reads as two names and cannot be copied back together; cut after
a separator, each line is a whole directory name, and joining the lines gives the path back.
"""

from __future__ import annotations


def fold_path(text: str, width: int) -> str:
    """`text` on lines of at most `width` characters, each break right after a '/'. A single name
    longer than `width` keeps a line of its own (it is not cut)."""
    if width <= 0 or len(text) <= width:
        return text
    pieces: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == "/":
            pieces.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        pieces.append(text[start:])
    return pack(pieces, width)


def pack(pieces: list[str], width: int) -> str:
    """The pieces in order, as many on a line as fit in `width` (a wider piece gets its own line)."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > width:
            lines.append(current)
            current = ""
        current += piece
    lines.append(current)
    return "\n".join(lines)


def fold_text(text: str, width: int) -> str:
    """`text` wrapped at spaces to `width`; a word wider than that (a path, a URI) is broken after
    its '/' characters instead of at an arbitrary character. Existing line breaks are kept."""
    if width <= 0:
        return text
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + 1 + len(word) <= width:
                line += " " + word
                continue
            if line:
                out.append(line)
            *full, line = fold_path(word, width).split("\n")
            out += full
        out.append(line)
    return "\n".join(out)
