"""Anchors: how lines written without hashes (by the original tools, or by hand before
repobus) are protected once repobus has taken them in.  One rule, used by both backends.

An anchor is `{"lines": N, "sha256": HEX, "marks": STR}` over the first N record lines of a
file: `sha256` is taken over the canonical form of each line (records/models.canonical of
the parsed line; a line that does not parse counts by its bytes), each followed by a newline;
`marks` holds 4 hex digits per line (the head of that line's own sha256), only to *name*
the line that changed - the digest is what proves it.

Where anchors are recorded:
- git backend: the `import` event `repobus import` writes carries `anchors`, one per file of
  the tracked `_bus/` it read (store/legacy.py);
- dir backend: the first record repobus appends after legacy lines carries `anchor` over
  every line before it (store/dirstore.py), and its `seq` is their count + 1.

Invariants: blank lines never count; `problem` names the first line edited, dropped or
inserted (file and line), or says the digest differs when the marks cannot place it; a
file that matches its anchor gives None.  No I/O here.
"""

from __future__ import annotations

import hashlib

from repobus.records import models

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

MARK = 4  # hex digits per line in `marks`: enough to place a change, not to prove one


def line_form(line: bytes) -> bytes:
    """The bytes a line is hashed as: its record's canonical JSON, else the line itself."""
    try:
        rec = models.loads(line, "line")
    except Exception:  # an unreadable line is anchored as it is  # noqa: BLE001
        return line.strip()
    return models.canonical(rec) if isinstance(rec, dict) else line.strip()


def record_lines(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, line) of every non-blank line of a file's bytes, numbered from 1."""
    return [(n, ln) for n, ln in enumerate(data.splitlines(), 1) if ln.strip()]


def of_lines(lines: Sequence[bytes]) -> dict[str, Any]:
    """The anchor of `lines` (non-blank record lines, in file order)."""
    whole = hashlib.sha256()
    marks = []
    for line in lines:
        form = line_form(line)
        whole.update(form + b"\n")
        marks.append(hashlib.sha256(form).hexdigest()[:MARK])
    return {"lines": len(lines), "sha256": whole.hexdigest(), "marks": "".join(marks)}


def is_anchor(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("lines"), int)
        and not isinstance(value.get("lines"), bool)
        and isinstance(value.get("sha256"), str)
    )


def problem(anchor: dict[str, Any], lines: Sequence[tuple[int, bytes]]) -> tuple[str, str] | None:
    """(where, what) of the first difference between `anchor` and the lines now in the file
    (`lines`: (line number, line), only the ones the anchor covers and any after them);
    None when the anchored lines are intact."""
    want = int(anchor["lines"])
    now = of_lines([ln for _, ln in lines[:want]])
    if len(lines) >= want and now["sha256"] == anchor["sha256"]:
        return None
    number = [n for n, _ in lines]
    old = _marks(str(anchor.get("marks", "")))
    cur = _marks(of_lines([ln for _, ln in lines])["marks"])
    placed = _place(old, cur) if len(old) == want else None
    if placed is None:
        return (
            f"lines 1..{want}",
            f"the {want} anchored lines differ from their digest (edited, dropped or "
            f"reordered); {len(lines)} record lines remain",
        )
    i, how = placed
    at = f"line {number[i]}" if i < len(number) else f"line {number[-1] + 1 if number else 1}"
    if how == "dropped":
        return at, f"anchored line {i + 1} of {want} was dropped"
    if how == "inserted":
        return at, f"a line was inserted among the {want} anchored lines"
    return at, f"anchored line {i + 1} of {want} was edited"


def _marks(text: str) -> list[str]:
    return [text[i : i + MARK] for i in range(0, len(text), MARK)]


def _place(old: list[str], cur: list[str]) -> tuple[int, str] | None:
    """Where `cur` first leaves `old`, and how: one line edited, dropped or inserted."""
    i = next((k for k, (a, b) in enumerate(zip(old, cur, strict=False)) if a != b), None)
    if i is None:
        i = min(len(old), len(cur))
        if len(cur) >= len(old):
            return None  # marks agree on every anchored line: only the digest can tell
        return i, "dropped"
    n = len(old)
    if old[i + 1 : n] == cur[i + 1 : n]:
        return i, "edited"
    if old[i + 1 : n] == cur[i : n - 1]:
        return i, "dropped"
    if old[i:n] == cur[i + 1 : n + 1]:
        return i, "inserted"
    return i, "edited"


def seq_shift(anchor: dict[str, Any], seq: Any, position: int) -> str | None:
    """The record carrying a dir backend's anchor has `seq` = anchored lines + 1 and sits
    right after them; a different place means lines before it were dropped or inserted."""
    if isinstance(seq, int) and not isinstance(seq, bool) and seq != position:
        return f"record seq {seq} now sits at record line {position}: seq shifted"
    if int(anchor["lines"]) + 1 != position:
        return (
            f"the anchor counts {anchor['lines']} lines before this record, {position - 1} remain"
        )
    return None


def carried(lines: Sequence[tuple[int, bytes]], records: Sequence[Any]) -> tuple[str, str] | None:
    """The first anchor carried by a record of one file (`records[i]` parsed from
    `lines[i]`, None when unreadable) that the lines before it no longer match."""
    for pos, ((n, _), rec) in enumerate(zip(lines, records, strict=False), 1):
        held = rec.get("anchor") if isinstance(rec, dict) else None
        if not is_anchor(held) or not isinstance(held, dict):
            continue
        found = problem(held, lines[: pos - 1])
        shift = seq_shift(held, rec.get("seq"), pos)
        if found is not None:
            return found[0], found[1] + (f" ({shift})" if shift else "")
        if shift is not None:
            return f"line {n}", shift
    return None
