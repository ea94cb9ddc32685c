"""Replacing one level-2 section (``## Heading``) of a markdown report in place, so that a
part of ``reports/paper_reproduction.md`` can be regenerated alone
(``python -m sim.report.paper --serving-only``, ``--energy-only``)."""

from __future__ import annotations

__all__ = ["replace_section", "section_lines"]


def _bounds(old: list[str], heading: str) -> tuple[int, int] | None:
    """Where section ``## {heading}`` of ``old`` starts and ends (the next level-2
    heading, or the end); None if it has none."""
    title = f"## {heading}"
    if title not in old:
        return None
    start = old.index(title)
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
    return start, end


def section_lines(text: str, heading: str) -> list[str] | None:
    """The lines of section ``## {heading}`` of ``text`` (its heading first, trailing
    empty lines dropped), or None if it has none.

    >>> section_lines("# R\\n\\n## A\\nold\\n\\n## B\\n", "A")
    ['## A', 'old']
    """
    old = text.rstrip("\n").split("\n")
    bounds = _bounds(old, heading)
    if bounds is None:
        return None
    lines = old[bounds[0]:bounds[1]]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def replace_section(text: str, heading: str, lines: list[str],
                    before: str | None = None) -> str:
    """``text`` with its section ``## {heading}`` (from that line to the next level-2
    heading, or the end) replaced by ``lines``; when ``text`` has no such section,
    inserted before section ``## {before}`` if given and present, else appended at
    the end. Every other line is kept as it was; sections stay separated by one
    empty line and the result ends with one newline.

    >>> doc = "# R\\n\\n## A\\nold\\n\\n## B\\nkept\\n"
    >>> replace_section(doc, "A", ["## A", "new"])
    '# R\\n\\n## A\\nnew\\n\\n## B\\nkept\\n'
    >>> replace_section(doc, "C", ["## C", "added"]).endswith("kept\\n\\n## C\\nadded\\n")
    True
    >>> replace_section(doc, "C", ["## C", "in"], before="B")
    '# R\\n\\n## A\\nold\\n\\n## C\\nin\\n\\n## B\\nkept\\n'
    """
    old = text.rstrip("\n").split("\n")
    new = list(lines)
    while new and not new[-1].strip():
        new.pop()
    bounds = _bounds(old, heading)
    if bounds is None:
        after_bounds = _bounds(old, before) if before is not None else None
        if after_bounds is None:
            return "\n".join([*old, "", *new]) + "\n"
        bounds = (after_bounds[0], after_bounds[0])  # an empty section just before it
    start, end = bounds
    before_lines = old[:start]
    while before_lines and not before_lines[-1].strip():
        before_lines.pop()
    after = old[end:]
    joined = [*before_lines, "", *new] if before_lines else new
    if after:
        joined += ["", *after]
    return "\n".join(joined) + "\n"
