"""Replacing one level-2 section (``## Heading``) of a markdown report in place, so that a
part of ``reports/paper_reproduction.md`` can be regenerated alone
(``python -m sim.report.paper --serving-only``, ``--energy-only``)."""

from __future__ import annotations

__all__ = ["replace_section"]


def replace_section(text: str, heading: str, lines: list[str]) -> str:
    """``text`` with its section ``## {heading}`` (from that line to the next level-2
    heading, or the end) replaced by ``lines``; appended at the end when ``text`` has
    no such section. Every other line is kept as it was; sections stay separated
    by one empty line and the result ends with one newline.

    >>> doc = "# R\\n\\n## A\\nold\\n\\n## B\\nkept\\n"
    >>> replace_section(doc, "A", ["## A", "new"])
    '# R\\n\\n## A\\nnew\\n\\n## B\\nkept\\n'
    >>> replace_section(doc, "C", ["## C", "added"]).endswith("kept\\n\\n## C\\nadded\\n")
    True
    """
    old = text.rstrip("\n").split("\n")
    new = list(lines)
    while new and not new[-1].strip():
        new.pop()
    title = f"## {heading}"
    if title not in old:
        return "\n".join([*old, "", *new]) + "\n"
    start = old.index(title)
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
    before = old[:start]
    while before and not before[-1].strip():
        before.pop()
    after = old[end:]
    joined = [*before, "", *new] if before else new
    if after:
        joined += ["", *after]
    return "\n".join(joined) + "\n"
