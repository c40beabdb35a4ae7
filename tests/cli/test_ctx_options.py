"""The typed option accessors of a command's context (cli/runner.Ctx): the value the parser
gave, of the type the handler relies on, or a TypeError naming the option (a parser bug)."""

from __future__ import annotations

import pytest

from repobus.cli.runner import Ctx
from repobus.errors import UsageError


def _ctx(**values: object) -> Ctx:
    return Ctx(dict(values), {})


def test_each_accessor_returns_the_parsed_value() -> None:
    ctx = _ctx(task="T-1", fence=3, ttl="2h", clear_notes=True, receipt=["a", "b"], plan=None)
    assert ctx.need("task") == "T-1" and ctx.text("plan") is None
    assert ctx.fence == 3 and ctx.number("limit") is None
    assert ctx.ttl_seconds() == 7200 and _ctx().ttl_seconds() is None
    assert ctx.flag("clear_notes") and not ctx.flag("json")
    assert ctx.texts("receipt") == ["a", "b"] and ctx.texts("nothing") == []


@pytest.mark.parametrize(
    ("values", "read"),
    [
        ({"fence": "3"}, lambda c: c.fence),
        ({"fence": True}, lambda c: c.number("fence")),
        ({"task": 5}, lambda c: c.text("task")),
        ({}, lambda c: c.need("task")),
        ({"receipt": "a"}, lambda c: c.texts("receipt")),
    ],
)
def test_a_value_of_the_wrong_type_is_a_bug_named_by_its_option(values, read) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="'(fence|task|receipt)'"):
        read(_ctx(**values))


def test_a_bad_duration_is_the_persons_mistake() -> None:
    with pytest.raises(UsageError, match="--ttl must be a positive duration"):
        _ctx(ttl="soon").ttl_seconds()
