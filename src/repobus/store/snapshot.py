"""The status snapshot: what `status --json` shows, kept as a text file beside the index, so the
command agents poll answers without SQLite.

`<common dir>/repobus/status.snapshot` is derived from the index (itself derived from the
refs) for one fingerprint of the ref storage, and is used only while the refs still have that
fingerprint; it is written only for a fingerprint the index trusts (see store/index.py), and
replaced whole (rename), so a reader sees one complete snapshot or none.  Deleting it is
always safe: the next `status` writes it again.

Format (bytes, UTF-8; JSON texts never hold a raw newline or NUL):

    repobus-status-snapshot 2
    sig <fingerprint>
    active <K>
    K lines, one per active claim in task order: <lease_end|-> <claimed/updated|->
    events <N> <1 if these are all the events, else 0>
    N lines, oldest first: <event record>   (the newest EVENTS events at most)
    claims <L>
    L bytes, the claims array's body: every claim's status view in task order,
    comma-joined, each active claim's view ending in a NUL where its lease fields go

The lease fields of active claims depend on the clock and the lease settings, so they are
computed at read time, as the index's status query computes them (tests hold them equal).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "status.snapshot"
MAGIC = b"repobus-status-snapshot 2"
EVENTS = 100  # newest events kept: `status --limit` up to this is answered from the file

_CLAIMS = """
    SELECT status IS 'active',
           CASE WHEN status IS NOT 'active' THEN
                  COALESCE(view, json_set(record, '$._path', '_bus/claims/' || key || '.json',
                                          '$.lease_state', COALESCE(NULLIF(status, ''), 'unknown'),
                                          '$.lease_seconds_left', NULL))
                WHEN view IS NOT NULL THEN view
                ELSE substr(j, 1, length(j) - 1) END,
           lease_end, base
    FROM (SELECT *, json_set(json_remove(record, '$.lease_state', '$.lease_seconds_left'),
                             '$._path', '_bus/claims/' || key || '.json') AS j
          FROM slots WHERE kind='claims')
    ORDER BY key"""


def build(db: Any, sig: str) -> bytes | None:
    """The snapshot of the index `db` holds (read in one transaction by the caller); None
    when a view cannot be held in this format."""
    views: list[bytes] = []
    actives: list[bytes] = []
    for active, view, lease_end, base in db.execute(_CLAIMS):
        text = view.encode("utf-8")
        if b"\0" in text or b"\n" in text:
            return None
        if active:
            actives.append(f"{_num(lease_end)} {_num(base)}".encode())
            text += b"\0"
        views.append(text)
    events = [
        row[0].encode("utf-8")
        for row in db.execute(
            "SELECT json_remove(record, '$._index') FROM logs WHERE kind='events' "
            f"ORDER BY ts DESC, chain DESC, seq DESC LIMIT {EVENTS}"
        )
    ]
    events.reverse()
    if any(b"\n" in e or not e.startswith(b"{") for e in events):
        return None
    head = [
        MAGIC,
        f"sig {sig}".encode(),
        f"active {len(actives)}".encode(),
        *actives,
        f"events {len(events)} {int(len(events) < EVENTS)}".encode(),
        *events,
    ]
    body = b",".join(views)
    return b"\n".join([*head, b"claims %d" % len(body), body])


def _num(value: Any) -> str:
    return "-" if value is None else str(int(value))


def path_in(common: str) -> str:
    return os.path.join(common, "repobus", NAME)


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def sig_of(data: bytes | None) -> str | None:
    """The fingerprint a snapshot was made for (None: no snapshot, or not one)."""
    start = len(MAGIC) + 5
    if not data or not data.startswith(MAGIC + b"\nsig "):
        return None
    return data[start : data.find(b"\n", start)].decode("utf-8", "replace")


def render(
    data: bytes, *, now: int, ttl: int, grace: int, limit: int, filters: str
) -> bytes | None:
    """The `status --json` document (no filter but `limit`) from a snapshot; None when the
    snapshot cannot give it (fewer events kept than asked for, a damaged file)."""
    mark = data.find(b"\nclaims ")
    start = data.find(b"\n", mark + 1) + 1
    if mark < 0 or start == 0 or data[mark + 8 : start - 1] != b"%d" % (len(data) - start):
        return None  # not a snapshot, or not a whole one
    header = data[:mark].split(b"\n")
    pieces = data.split(b"\0")  # the claims around each active claim's lease fields
    pieces[0] = pieces[0][start:]
    try:
        k = int(header[2].removeprefix(b"active "))
        ends = header[3 : 3 + k]
        n_text, complete = header[3 + k].removeprefix(b"events ").split(b" ")
        n = int(n_text)
    except (IndexError, ValueError):
        return None
    events_kept = header[4 + k :]
    if header[0] != MAGIC or len(events_kept) != n or len(pieces) != k + 1:
        return None
    if limit > n and complete != b"1":
        return None
    out = [b'{"claims":[']
    try:
        for piece, lease in zip(pieces[:-1], ends, strict=True):
            end, base = lease.split(b" ")
            fin = int(end) if end != b"-" else (int(base) + ttl if base != b"-" else None)
            if fin is not None and now > fin + grace:
                fields = b',"lease_seconds_left":null,"lease_state":"expired"}'
            else:
                left = b"null" if fin is None else b"%d" % max(fin - now, 0)
                fields = b',"lease_seconds_left":' + left + b',"lease_state":"active"}'
            out += (piece, fields)
    except ValueError:
        return None
    out.append(pieces[-1])
    shown = events_kept[max(n - limit, 0) :] if limit > 0 else []
    events = [
        b'{"_index":%d' % (len(shown) - i) + (b"," + rec[1:] if rec != b"{}" else b"}")
        for i, rec in enumerate(shown)
    ]
    out += (b'],"events":[', b",".join(events), b'],"filters":', filters.encode(), b"}")
    return b"".join(out)


def save(path: str, data: bytes) -> None:
    """Replace the snapshot whole; a snapshot that cannot be written is simply not there
    (it is a cache: the full command answers instead)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        import contextlib  # here: the reading path imports nothing it does not use

        with contextlib.suppress(OSError):
            os.unlink(tmp)
