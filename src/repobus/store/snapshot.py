"""The status snapshot: what `status --json` shows, kept as a text file beside the index, so the
command agents poll answers without SQLite.

`<common dir>/repobus/status.snapshot` is derived from the index (itself derived from the
refs) for one fingerprint of the ref storage, and is used only while the refs still have that
fingerprint; it is written only for a fingerprint the index trusts (see store/index.py), and
replaced whole (rename), so a reader sees one complete snapshot or none.  Deleting it is
always safe: the next `status` writes it again.

Format (bytes, UTF-8; JSON texts never hold a raw newline or NUL):

    repobus-status-snapshot 3
    sig <fingerprint>
    active <K>
    K lines, one per active claim in task order: <lease_expires_at|-> <updated/claimed|->
    events <N> <1 if these are all the events, else 0>
    N lines, oldest first: an event record with a NUL where its `_index` goes
    claims <L>
    L bytes, the claims array's body: every claim's status view in task order,
    comma-joined, each active claim's view holding a NUL where its lease fields go

Every text is canonical JSON (sorted keys, compact, UTF-8), split where the fields that are
only known at read time go (`split`), so the document is byte for byte the one the Python
view encodes.  The lease fields of active claims depend on the clock and the lease settings,
so they are computed at read time by the one lease rule (records/lease.py), as every other
door computes them; this module imports nothing else, so the lean path stays lean.
"""

from __future__ import annotations

import os

from repobus.records import layout, lease

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "status.snapshot"
MAGIC = b"repobus-status-snapshot 3"
EVENTS = 100  # newest events kept: `status --limit` up to this is answered from the file
MARK = "\0"  # where the fields known only at read time go
LEASE_KEYS = ("lease_seconds_left", "lease_state")  # in canonical (sorted) order

_CLAIMS = """
    SELECT view, status IS 'active', lease_end, base FROM slots WHERE kind='claims'
    ORDER BY key"""


def split(data: dict[str, Any], first: str, last: str) -> str | None:
    """`data` as canonical JSON without the keys `first` and `last`, with MARK where they go
    (adjacent in canonical order: the reader puts them back there).  None when `data` has a
    key that sorts between the two."""
    from repobus.records.models import canonical  # the builders only: not the lean path

    if any(first < k < last for k in data):
        return None
    before = {k: v for k, v in data.items() if k < first}
    after = {k: v for k, v in data.items() if k > last}
    head = canonical(before).decode("utf-8")[:-1] + ("," if before else "")
    tail = ("," if after else "") + canonical(after).decode("utf-8")[1:]
    return head + MARK + tail


def claim_view(key: str, rec: dict[str, Any]) -> str | None:
    """What status shows of a claim, made once when it is indexed.  A claim that is not
    active does not change with time: its whole view.  An active claim: its view with MARK
    where the lease fields go (`lease_fill` at read time).  None when the record holds a key
    sorting between the two lease fields (the reader then builds the view from the record)."""
    from repobus.records.models import canonical

    if rec.get("status") != lease.ACTIVE:
        fields = lease.fields(rec.get("status"), None, 0, 0)  # not held: no clock involved
        return canonical(claim_dict(key, rec, *fields)).decode("utf-8")
    return split(dict(rec, _path=_path(key)), *LEASE_KEYS)


def claim_dict(key: str, rec: dict[str, Any], state: str, left: int | None) -> dict[str, Any]:
    """A claim as status shows it: the record, where the original tools kept it (`_path`),
    and its lease fields (records/lease.py)."""
    return dict(rec, _path=_path(key), lease_state=state, lease_seconds_left=left)


def _path(key: str) -> str:
    return layout.bus_path(layout.slot_file("claims", key))


def lease_fill(view: str, lease_end: int | None, now: int, grace: int) -> str:
    """An active claim's view (MARK in it) with its lease fields for `now`."""
    return view.replace(MARK, lease_text(*lease.fields(lease.ACTIVE, lease_end, now, grace)), 1)


def lease_text(state: str, left: int | None) -> str:
    """The two lease fields of an active claim's view, canonical (`state` is one of the
    lease rule's own names, plain ASCII)."""
    shown = "null" if left is None else str(left)
    return f'"lease_seconds_left":{shown},"lease_state":"{state}"'


def build(db: Any, sig: str) -> bytes | None:
    """The snapshot of the index `db` holds (read in one transaction by the caller); None
    when a view cannot be held in this format."""
    from repobus.records.models import loads

    views: list[bytes] = []
    actives: list[bytes] = []
    for view, active, lease_end, base in db.execute(_CLAIMS):
        if view is None:
            return None
        text = view.encode("utf-8")
        if b"\n" in text or text.count(b"\0") != int(active):
            return None
        if active:
            actives.append(f"{_num(lease_end)} {_num(base)}".encode())
        views.append(text)
    events = []
    for (record,) in db.execute(
        "SELECT record FROM logs WHERE kind='events' "
        f"ORDER BY ts DESC, chain DESC, seq DESC LIMIT {EVENTS}"
    ):
        rec = loads(record, "the index")
        text = split(rec, "_index", "_index") if isinstance(rec, dict) else None
        if text is None or "\n" in text:
            return None
        events.append(text.encode("utf-8"))
    events.reverse()
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
    pieces = data[start:].split(b"\0")  # the claims around each active claim's lease fields
    try:
        k = int(header[2].removeprefix(b"active "))
        ends = header[3 : 3 + k]
        n_text, complete = header[3 + k].removeprefix(b"events ").split(b" ")
        n = int(n_text)
        out = [b'{"claims":[', *_claims(pieces, ends, now, ttl, grace), b'],"events":[']
    except (IndexError, ValueError):
        return None
    events_kept = header[4 + k :]
    if header[0] != MAGIC or len(events_kept) != n or (limit > n and complete != b"1"):
        return None
    shown = events_kept[max(n - limit, 0) :] if limit > 0 else []
    numbered = [rec.split(b"\0") for rec in shown]
    if any(len(parts) != 2 for parts in numbered):
        return None
    out.append(
        b",".join(
            b'%s"_index":%d%s' % (head, len(shown) - i, tail)
            for i, (head, tail) in enumerate(numbered)
        )
    )
    out += (b'],"filters":', filters.encode(), b"}")
    return b"".join(out)


def _claims(pieces: list[bytes], ends: list[bytes], now: int, ttl: int, grace: int) -> list[bytes]:
    """The claims array's body: `pieces` (split at each active claim's MARK) joined by the
    lease fields of each active claim; ValueError when they do not fit together."""
    if len(pieces) != len(ends) + 1:
        raise ValueError("one lease per active claim")
    out: list[bytes] = []
    for piece, line in zip(pieces[:-1], ends, strict=True):
        end_text, base = line.split(b" ")
        expires = None if end_text == b"-" else int(end_text)
        started = None if base == b"-" else int(base)
        fields = lease.fields(lease.ACTIVE, lease.end(expires, started, ttl), now, grace)
        out += (piece, lease_text(*fields).encode())
    out.append(pieces[-1])
    return out


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
