"""The status snapshot: what `status --json` shows, kept as a text file beside the index, so the
command agents poll answers without SQLite.

`<common dir>/repobus/status.snapshot` is derived from the index (itself derived from the
refs; store/snapbuild.py builds it) for one fingerprint of the ref storage, and is used only
while the refs still have that fingerprint; it is written only for a fingerprint the index
trusts (see store/index.py), or patched by a writer (below), and replaced whole (rename), so a
reader sees one complete snapshot or none.  Deleting it is always safe: the next `status`
writes it again.

Format (bytes, UTF-8; JSON texts never hold a raw newline or NUL; task ids no space):

    repobus-status-snapshot 5
    sig <fingerprint>
    gen <write generation> <0, or when the chain of provisional patches began (ns)>
    events <N> <1 if these are all the events, else 0>
    N lines, oldest first: <ts|-> <seq|-> <chain ref> <the record, a NUL where `_index` goes>
    live <K>
    K lines, the live claims in task order: <lease_expires_at|-> <updated/claimed|-> <task> <view>
    finished <F>
    F lines, the finished claims, newest first: <finished at|-> <task> <view>
    end

A live claim's view holds a NUL where its lease fields go when it is active.  Which claims a
read lists (the live ones, the finished ones within the window, one page of them in task
order) is the rule of records/shown.py, applied at read time: the finished claims are kept
newest first so a read stops at the first one older than the window, and the default read
costs the live claims, not the history.

A snapshot is *trusted* (gen's second field 0: the index built it for a trusted fingerprint)
or *provisional* (a writer patched it right after its own write, store/snappatch.py), used
only by the rule for young fingerprints (`fresh`: git/fingerprint.py `provisional`).

Every text is canonical JSON (sorted keys, compact, UTF-8), split where the fields that are
only known at read time go (`split`), so the document is byte for byte the one the Python
view encodes.  The lease fields of active claims depend on the clock and the lease settings,
so they are computed at read time by the one lease rule (records/lease.py), as every other
door computes them; this module imports nothing else, so the lean path stays lean.
"""

from __future__ import annotations

import os

from repobus.git.fingerprint import provisional, read_stamp, stamp
from repobus.records import layout, lease

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.records.shown import Listing

NAME = "status.snapshot"
MAGIC = b"repobus-status-snapshot 5"
HEAD = 3  # lines before `events`: magic, sig, gen
EVENTS = 100  # newest events kept: `status --limit` up to this is answered from the file
MARK = "\0"  # where the fields known only at read time go
LEASE_KEYS = ("lease_seconds_left", "lease_state")  # in canonical (sorted) order
ISO_FMT = "%Y-%m-%dT%H:%M:%SZ"  # records/times.ISO_FMT, not imported: the lean path loads no re


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


def claim_columns(key: str, rec: dict[str, Any]) -> tuple[str | None, int | None, int | None]:
    """The index columns status reads of a claim record: its status, lease end and the time
    it last changed (store/index.py keeps them; a writer's patch computes the same)."""
    from repobus.records.times import parse_or_none

    status = rec.get("status")
    return (
        status if isinstance(status, str) else None,
        parse_or_none(rec.get("lease_expires_at")),
        parse_or_none(rec.get("updated_at") or rec.get("claimed_at")),
    )


def claim_line(
    key: str, view: str | None, status: object, lease_end: Any, base: Any
) -> tuple[bool, int, bytes] | None:
    """A claim's snapshot line: (finished?, its finish time or -1, the line); None when the
    claim cannot be held in this format (the reader then asks the index)."""
    from repobus.records import shown

    if view is None or not key or any(c in key for c in " \n\0"):
        return None
    text = view.encode("utf-8")
    if b"\n" in text or text.count(b"\0") != int(status == lease.ACTIVE):
        return None
    if shown.finished(status):
        return True, -1 if base is None else int(base), f"{_num(base)} {key} ".encode() + text
    return False, 0, f"{_num(lease_end)} {_num(base)} {key} ".encode() + text


def header(sig: str, gen: str, start_ns: int) -> list[bytes]:
    """The lines before the events: a trusted snapshot has `start_ns` 0."""
    return [
        MAGIC,
        f"sig {sig}".encode(),
        stamp(gen, start_ns).encode(),
    ]


def assemble(head: list[bytes], events: list[bytes], live: list[bytes], done: list[bytes]) -> bytes:
    return b"\n".join(
        [
            *head,
            f"events {len(events)} {int(len(events) < EVENTS)}".encode(),
            *events,
            b"live %d" % len(live),
            *live,
            b"finished %d" % len(done),
            *done,
            b"end",
        ]
    )


def event_line(ts: Any, seq: Any, chain: str, rec: Any) -> bytes | None:
    """An event's snapshot line: where it sorts (the index's ts, seq and chain columns), then
    its record split where its `_index` goes."""
    text = split(rec, "_index", "_index") if isinstance(rec, dict) else None
    if text is None or "\n" in text or not chain or any(c in chain for c in " \n\0"):
        return None
    return f"{_num(ts)} {_num(seq)} {chain} {text}".encode()


def event_order(line: bytes) -> tuple[tuple[bool, int], bytes, tuple[bool, int]]:
    """Where an event line sorts: the index's (ts, chain, seq), a missing value first."""
    ts, seq, chain, _ = line.split(b" ", 3)
    return (
        (ts != b"-", int(ts) if ts != b"-" else 0),
        chain,
        (seq != b"-", int(seq) if seq != b"-" else 0),
    )


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


def gen_of(data: bytes) -> tuple[str, int] | None:
    """The write generation a snapshot was made for, and when its chain of provisional
    patches began (0: trusted)."""
    at = data.find(b"\ngen ", len(MAGIC))
    if at < 0:
        return None
    return read_stamp(data[at + 1 : data.find(b"\n", at + 1)].decode("ascii", "replace"))


def fresh(data: bytes | None, sig: str, gen: str, now_ns: int) -> bool:
    """Whether a snapshot shows the refs whose fingerprint is `sig` and write generation is
    `gen`: a trusted one by its fingerprint, a provisional one also by the one rule for
    young fingerprints (git/fingerprint.py `provisional`)."""
    if data is None or sig_of(data) != sig:
        return False
    got = gen_of(data)
    if got is None:
        return False
    return got[1] == 0 or provisional(got[0], got[1], gen, now_ns)


def render(
    data: bytes,
    *,
    now: int,
    ttl: int,
    grace: int,
    limit: int,
    filters: str,
    listing: Listing | None = None,
) -> bytes | None:
    """The `status --json` document (no filter but `limit` and the listing: window, cursor,
    page size) from a snapshot; None when the snapshot cannot give it (fewer events kept than
    asked for, a damaged file)."""
    from repobus.records.shown import Listing

    listing = listing or Listing.of(now)
    try:
        complete, kept, live, done = sections(data)
        if limit > len(kept) and not complete:
            return None
        page, left_out, more = _page(live, done, listing)
        claims = [_claim(line, now, ttl, grace) for line in page]
        events = _numbered(kept, limit)
    except (IndexError, ValueError):
        return None
    if events is None:
        return None
    keys = [line.split(b" ", 3)[2].decode("utf-8") for line in page[-1:]]
    more_text = _json_text(listing.next_cursor(keys, more))
    return b"".join(
        (
            b'{"claims":[',
            b",".join(claims),
            b'],"claims_left_out":%d,"events":[' % left_out,
            events,
            b'],"filters":',
            filters.encode(),
            b',"next_cursor":',
            more_text.encode(),
            b"}",
        )
    )


def sections(data: bytes) -> tuple[bool, list[bytes], list[bytes], list[bytes]]:
    """The format's parts: whether the events kept are all of them, the event lines, the
    live claims' lines, the finished claims' lines; ValueError (or IndexError) when `data`
    is not a whole snapshot."""
    lines = data.split(b"\n")
    if lines[0] != MAGIC or lines[-1] != b"end":
        raise ValueError("not a snapshot")
    n_text, complete = lines[HEAD].removeprefix(b"events ").split(b" ")
    at = HEAD + 1 + int(n_text)  # the `live` line
    k = int(lines[at].removeprefix(b"live "))
    f = int(lines[at + 1 + k].removeprefix(b"finished "))
    if len(lines) != at + 3 + k + f:
        raise ValueError("damaged")
    return (
        complete == b"1",
        lines[HEAD + 1 : at],
        lines[at + 1 : at + 1 + k],
        lines[at + 2 + k : -1],
    )


def _page(live: list[bytes], done: list[bytes], listing: Listing) -> tuple[list[bytes], int, bool]:
    """The live lines and the finished lines (turned into live-shaped lines) of one page, in
    task order; how many claims the listing leaves out; whether more follow the page."""
    start, after = listing.start, listing.after
    after_b = None if after is None else after.encode("utf-8")
    within = 0
    taken = []
    for line in done:  # newest first: stop at the first one older than the window
        when, key, view = line.split(b" ", 2)
        if start is not None and (when == b"-" or int(when) < start):
            break
        within += 1
        if after_b is None or key > after_b:
            taken.append(b"- - " + key + b" " + view)
    rows = [line for line in live if after_b is None or line.split(b" ", 3)[2] > after_b]
    if taken:
        rows = sorted(rows + taken, key=lambda line: line.split(b" ", 3)[2])
    return rows[: listing.size], len(done) - within, len(rows) > listing.size


def _claim(line: bytes, now: int, ttl: int, grace: int) -> bytes:
    """A claim's status view from its line, an active claim's lease fields filled in."""
    end_text, base, _, view = line.split(b" ", 3)
    if b"\0" not in view:
        return view
    expires = None if end_text == b"-" else int(end_text)
    started = None if base == b"-" else int(base)
    fields = lease.fields(lease.ACTIVE, lease.end(expires, started, ttl), now, grace)
    return view.replace(b"\0", lease_text(*fields).encode(), 1)


def _numbered(kept: list[bytes], limit: int) -> bytes | None:
    """The newest `limit` events of those kept, each with its `_index` (1 = newest)."""
    shown = kept[max(len(kept) - limit, 0) :] if limit > 0 else []
    parts = [line.split(b" ", 3)[-1].split(b"\0") for line in shown]
    if any(len(p) != 2 for p in parts):
        return None
    return b",".join(
        b'%s"_index":%d%s' % (head, len(shown) - i, tail) for i, (head, tail) in enumerate(parts)
    )


def _json_text(value: str | None) -> str:
    """A cursor (plain ASCII) or nothing, as JSON."""
    return "null" if value is None else f'"{value}"'


def filters_text(limit: int, listing: Listing) -> str:
    """The filters object of a status read with no filter but `limit` and the listing, as
    canonical JSON (views/overview.py `_filters` encodes the same object in general)."""
    import time

    start = listing.start
    since = "null" if start is None else f'"{time.strftime(ISO_FMT, time.gmtime(start))}"'
    return (
        f'{{"active_only":false,"agents":[],"all":{"true" if start is None else "false"},'
        f'"cursor":null,"finished_since":{since},"limit":{limit},'
        f'"page_size":{listing.size},"since":null}}'
    )


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
