"""The rows of the derived index's `logs` table (store/index.py): how a record is kept small and
given back byte for byte.

Invariants:
- `text(encode(line, ...), ...)` is `line` decoded, byte for byte, for every line (the same
  column values given to both): a record is never re-encoded, only its bytes substituted;
- a line holding a byte below 0x20 (never in canonical JSON, possible in a hand-made one) is
  kept as it is, as TEXT; every other line is a BLOB whose first byte says its form.  An
  event as the bus writes it (`_EVENT_RE`: canonical JSON with exactly its seven keys, whose
  agent, event name, task, seq and time stamp are the row's columns byte for byte) keeps its
  hash as 32 bytes and its summary (the agent and the name in it as tokens); the rest is made
  again from the columns.  Any other line keeps the 32 raw bytes of its first
  `"prev_hash":"sha256:<64 hex>"` when there is one, then its text with the row's own values
  and some phrases (field names) replaced by single bytes below 0x20; each substitution is
  undone in reverse order, and a token byte occurs only where its own step put it, so
  decoding is exact;
- `event_row` reads such an event's columns from its text without parsing JSON, only when
  the pattern proves the line is valid JSON whose parsed values are those (else `row`);
- texts repeated on many rows (chains, agents, event names, tasks) are integer ids into the
  `names` table; an id never changes while the index file exists (a rebuild starts a new
  file), and every query compares and orders by the text, never by the id;
- the token table is versioned with the index schema (store/sql.py INDEX_SCHEMA): changing it
  means a new schema number, so an old file is rebuilt, never misread.
"""

from __future__ import annotations

import binascii
import re
import time

from repobus.records.layout import ROOT
from repobus.records.times import parse_or_none

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# a log row's texts: its chain, agent, event name and task are ids into `names`; every query
# reads them through these joins, and compares and orders by the text (never the id).  CROSS
# JOIN keeps `logs` the outer loop, so its indexes drive every query
LOGS = (
    "logs l CROSS JOIN names c ON c.id=l.chain LEFT JOIN names w ON w.id=l.who "
    "LEFT JOIN names n ON n.id=l.name LEFT JOIN names t ON t.id=l.task"
)
RECORD = "l.record, w.text, n.text, t.text, l.seq, l.ts"  # what indexrows.text decodes
NEWEST_FIRST = "ORDER BY l.ts DESC, c.text DESC, l.seq DESC"
OLDEST_FIRST = "ORDER BY l.ts, c.text, l.seq"
KINDS = {"events": 0, "messages": 1}  # the `kind` column: an integer takes no room in a row
EVENT_ROWS = f"l.kind={KINDS['events']}"
HASH = b'"prev_hash":"sha256:'
_PLAIN, _HASHED, _EVENT, _EVENT_HASHED = 0, 1, 2, 3  # the header byte of a BLOB
# an event as the bus writes it (canonical JSON, these keys only): kept as its summary alone,
# the rest made again from the columns (`_event`, `_event_text`)
_EVENT_RE = re.compile(  # no byte below 0x20 in a value: JSON escapes them
    rb'\{"agent_id":"([^"\\\x00-\x1f]*)","event":"([^"\\\x00-\x1f]*)",'
    rb'(?:"prev_hash":"sha256:([0-9a-f]{64})",)?"seq":(\d+),"summary":"('
    rb'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*)",'
    rb'"task_id":"([^"\\\x00-\x1f]*)","ts":("[^"\\\x00-\x1f]*")\}'
)
# the phrases of an event's and a message's fields (records/required.py FIELDS), in canonical
# (sorted) order, then shorter ones any record has; the order is part of the format
# (INDEX_SCHEMA): encoded in this order, decoded in the reverse one
PHRASES = (
    b'{"agent_id":"',
    b'","event":"',
    b',"summary":"',
    b'","task_id":"',
    b'","ts":',
    b'{"from":"',
    b'","to":"',
    b'","type":"',
    b'","',
    b'":"',
    b'{"',
    b'"}',
    b'":',
    b',"',
)
_STEPS = tuple((p, bytes([i])) for i, p in enumerate(PHRASES, 1))
_UNDO = _STEPS[::-1]
_T_HASH = bytes([len(PHRASES) + 1])  # `"prev_hash":"sha256:<hex>"`: the hex is in the header
_T_ROW = tuple(bytes([len(PHRASES) + 2 + i]) for i in range(5))  # who, name, task, seq, ts
_S_WHO, _S_NAME = _T_ROW[0].decode(), _T_ROW[1].decode()  # the same tokens, as text
_LOW = bytes(range(32))
_HOURS: dict[int, bytes] = {}
_HOUR_OF: dict[bytes, int] = {}  # `"YYYY-MM-DDTHH:` -> its epoch
_MINSEC = tuple(b'%02d:%02dZ"' % divmod(s, 60) for s in range(3600))


def ts_text(ts: int | None) -> bytes | None:
    """The time stamp `ts` as records write it (ISO, UTC, whole seconds), quoted; None when
    there is no such text.  Encoder and decoder call this one function."""
    if ts is None or not 0 <= ts < 253402300800:
        return None
    hour, sec = divmod(ts, 3600)
    head = _HOURS.get(hour)
    if head is None:  # a reindex formats a million stamps over a few hundred hours
        t = time.gmtime(hour * 3600)
        head = f'"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:'.encode()
        if len(_HOURS) < 65536:
            _HOURS[hour] = head
    return head + _MINSEC[sec]


def _row_values(
    who: str | None, name: str | None, task: str | None, seq: int | None, ts: int | None
) -> list[bytes | None]:
    """The texts of a row's columns its record holds too (each replaced by a token)."""
    return [
        None if not who else who.encode(),
        None if not name else name.encode(),
        None if not task else task.encode(),
        None if seq is None else b',"seq":%d' % seq,
        ts_text(ts),
    ]


def encode(
    line: bytes, who: str | None, name: str | None, task: str | None, seq: Any, ts: int | None
) -> bytes | str:
    """The `record` column of a log row (see the module's invariants): the hash first, then
    the row's own values, then the phrases."""
    if len(line.translate(None, _LOW)) != len(line):
        return line.decode("utf-8")
    event = _event(line, who, name, task, seq, ts)
    if event is not None:
        return event
    head = bytes([_PLAIN])
    at = line.find(HASH)
    if at >= 0:
        hexed = line[at + len(HASH) : at + len(HASH) + 65]
        raw = _unhex(hexed[:64]) if hexed[64:] == b'"' else None
        if raw is not None:
            head = bytes([_HASHED]) + raw
            line = line.replace(HASH + hexed, _T_HASH, 1)
    for value, token in zip(_row_values(who, name, task, seq, ts), _T_ROW, strict=True):
        if value:
            line = line.replace(value, token)
    for phrase, token in _STEPS:
        line = line.replace(phrase, token)
    return head + line


def text(
    record: bytes | str,
    who: str | None,
    name: str | None,
    task: str | None,
    seq: Any,
    ts: int | None,
) -> str:
    """The record `encode` was given, as text, from the `record` column and the same row's
    agent, event name, task, seq and time stamp: `encode`'s steps undone in reverse order."""
    if isinstance(record, str):
        return record
    if record[0] >= _EVENT:
        return _event_text(record, who or "", name or "", task or "", seq, ts)
    hashed = record[0] == _HASHED
    line = record[33:] if hashed else record[1:]
    for phrase, token in _UNDO:
        line = line.replace(token, phrase)
    values = _row_values(who, name, task, seq, ts)
    for value, token in zip(values[::-1], _T_ROW[::-1], strict=True):
        if value and token in line:
            line = line.replace(token, value)
    if hashed:
        line = line.replace(_T_HASH, HASH + record[1:33].hex().encode() + b'"', 1)
    return line.decode("utf-8")


def _event(
    line: bytes, who: str | None, name: str | None, task: str | None, seq: Any, ts: int | None
) -> bytes | None:
    """An event the bus wrote whose agent, name, task, seq and time stamp are its columns'
    (byte for byte): its header, hash and summary (the agent and the name in it as tokens);
    None for any other line."""
    m = _EVENT_RE.fullmatch(line)
    if m is None or not (who and name and task) or seq is None:
        return None
    agent, event, hexed, number, summary, task_b, stamp = m.groups()
    who_b, name_b = who.encode(), name.encode()
    if (agent, event, task_b, number, stamp) != (
        who_b,
        name_b,
        task.encode(),
        b"%d" % seq,
        ts_text(ts),
    ):
        return None
    return _compact(hexed, summary, who_b, name_b)


def _compact(hexed: bytes | None, summary: bytes, who: bytes, name: bytes) -> bytes:
    """What `_event` keeps of an event: its header, its hash and its summary."""
    head = bytes([_EVENT]) if hexed is None else bytes([_EVENT_HASHED]) + binascii.a2b_hex(hexed)
    return head + summary.replace(who, _T_ROW[0]).replace(name, _T_ROW[1])


def _event_text(record: bytes, who: str, name: str, task: str, seq: int, ts: int | None) -> str:
    """The line `_event` kept as `record` (made as text: a stream of a million decodes it)."""
    if record[0] == _EVENT_HASHED:
        prev, summary = f'"prev_hash":"sha256:{record[1:33].hex()}",', record[33:].decode()
    else:
        prev, summary = "", record[1:].decode()
    summary = summary.replace(_S_NAME, name).replace(_S_WHO, who)
    stamp = (ts_text(ts) or b"").decode()
    return (
        f'{{"agent_id":"{who}","event":"{name}",{prev}"seq":{seq},"summary":"{summary}",'
        f'"task_id":"{task}","ts":{stamp}}}'
    )


def _unhex(hexed: bytes) -> bytes | None:
    """The 32 bytes a lowercase hex text spells (None: not exactly that)."""
    try:
        raw = binascii.a2b_hex(hexed)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 32 and binascii.b2a_hex(raw) == hexed else None


class Names:
    """Text <-> id of the `names` table, for one catch-up (ids are looked up once each)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.ids: dict[str, int] = {}
        self.chains: dict[bytes, str] = {}

    def chain(self, author: bytes) -> str:
        """The events chain of the author of a commit (`git log`'s %an)."""
        got = self.chains.get(author)
        if got is None:
            got = self.chains[author] = f"{ROOT}/events/{author.decode()}"
        return got

    def id(self, value: str | None) -> int | None:
        got = self.ids.get(value)  # type: ignore[arg-type]
        if got is None and value is not None:
            self.db.execute("INSERT OR IGNORE INTO names (text) VALUES (?)", (value,))
            (got,) = self.db.execute("SELECT id FROM names WHERE text=?", (value,)).fetchone()
            self.ids[value] = got
        return got


def row(
    names: Names, oid: str, author: str, rec: dict[str, Any], line: bytes, chain: str | None
) -> tuple[Any, ...]:
    """The `logs` row of one commit: its record `rec` (the text `line`), written by `author`,
    of the chain `chain` (None: the author's chain of the record's kind)."""
    kind = "messages" if "from" in rec and "event" not in rec else "events"
    seq = rec.get("seq")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    ts = parse_or_none(rec.get("ts"))
    who = as_text(rec.get("agent_id") or rec.get("from"))
    name = as_text(rec.get("event") or rec.get("type"))
    task = as_text(rec.get("task_id"))
    ref = chain or f"{ROOT}/{kind}/{author}"
    get = names.ids.get  # ids are never 0: `or` asks the table only for a name not seen yet
    return (
        bytes.fromhex(oid),
        KINDS[kind],
        get(ref) or names.id(ref),
        seq,
        ts,
        get(who) or names.id(who),  # type: ignore[arg-type]
        get(name) or names.id(name),  # type: ignore[arg-type]
        get(task) or names.id(task),  # type: ignore[arg-type]
        as_text(rec.get("to")),
        encode(line, who, name, task, seq, ts),
    )


def event_row(
    names: Names, oid: bytes, author: bytes, line: bytes, chain: str | None
) -> tuple[Any, ...] | None:
    """`row` of an event as the bus writes it, from its text alone (`_EVENT_RE`: valid JSON,
    whose values `row` would read as these); None for any other line (then `row`)."""
    m = _EVENT_RE.fullmatch(line)
    if m is None:
        return None
    agent, event, hexed, number, summary, task_b, stamp = m.groups()
    seq = int(number)
    if not (agent and event and task_b) or b"%d" % seq != number:
        return None  # an empty name is not a column; a leading zero is not JSON
    try:
        who, name, task = agent.decode(), event.decode(), task_b.decode()
        if not summary.isascii():
            summary.decode()  # JSON is UTF-8
        ts, exact = _stamp(stamp)
    except UnicodeDecodeError:
        return None
    ref = chain or names.chain(author)
    record: bytes | str
    if exact:
        record = _compact(hexed, summary, agent, event)
    else:
        record = encode(line, who, name, task, seq, ts)
    get = names.ids.get
    return (
        binascii.a2b_hex(oid),
        KINDS["events"],
        get(ref) or names.id(ref),
        seq,
        ts,
        get(who) or names.id(who),
        get(name) or names.id(name),
        get(task) or names.id(task),
        None,
        record,
    )


def _stamp(stamp: bytes) -> tuple[int | None, bool]:
    """parse_or_none of a quoted time stamp, and whether the stamp is `ts_text` of it; the
    hour is looked up once: a guess is taken only when its `ts_text` is the stamp itself, so
    it is what parse_or_none gives."""
    base = _HOUR_OF.get(stamp[:15])
    if base is None:
        base = parse_or_none(stamp[1:15].decode() + "00:00Z")
        if base is None:
            return parse_or_none(stamp[1:-1].decode()), False
        if len(_HOUR_OF) < 65536:
            _HOUR_OF[stamp[:15]] = base
    try:
        guess = base + int(stamp[15:17]) * 60 + int(stamp[18:20])
    except ValueError:
        guess = -1
    if ts_text(guess) == stamp:
        return guess, True
    ts = parse_or_none(stamp[1:-1].decode())
    return ts, ts_text(ts) == stamp


def as_text(value: Any) -> str | None:
    """A column value: records are free-form JSON, and a list or an object where a name is
    expected must not break the index (check and verify name such records)."""
    return value if isinstance(value, str) else None


def line_decoder(at: int = 0) -> Callable[[tuple[Any, ...]], bytes | str]:
    """As `decoder`, but an event kept as its summary (`_compact`) whose summary holds no
    escape is given as its `events.jsonl` line (bytes), made from the columns at once: its
    text is canonical JSON without an escape, so `models.event_line` of it is that text with a
    space after each `:` and `,` between tokens (views/mirrorbulk.py `event_lines` proves the
    same of any text, and passes these lines through).  Any other row: its record text."""
    text_of = decoder(at)

    def decode(r: tuple[Any, ...]) -> bytes | str:
        rec = r[at]
        if isinstance(rec, bytes) and rec[0] >= _EVENT and r[at + 5] is not None:
            hashed = rec[0] == _EVENT_HASHED
            summary = rec[33:] if hashed else rec[1:]
            if b"\\" not in summary:
                who, name = r[at + 1].encode(), r[at + 2].encode()
                prev = b'"prev_hash": "sha256:%s", ' % rec[1:33].hex().encode() if hashed else b""
                summary = summary.replace(_T_ROW[1], name).replace(_T_ROW[0], who)
                return _LINE % (
                    who,
                    name,
                    prev,
                    r[at + 4],
                    summary,
                    r[at + 3].encode(),
                    ts_text(r[at + 5]),
                )
        return text_of(r)

    return decode


_LINE = (
    b'{"agent_id": "%s", "event": "%s", %s"seq": %d, "summary": "%s", "task_id": "%s", "ts": %s}\n'
)


def decoder(at: int = 0) -> Callable[[tuple[Any, ...]], str]:
    """The record text of a row selected with `sql.RECORD` starting at column `at`."""

    def decode(r: tuple[Any, ...]) -> str:
        return text(r[at], r[at + 1], r[at + 2], r[at + 3], r[at + 4], r[at + 5])

    return decode
