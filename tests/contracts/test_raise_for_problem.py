"""``raise_for_problem``: every problem document a party sends comes back as the same ``sekisho.errors`` error."""

from __future__ import annotations

import httpx
import pytest

import sekisho.errors as errors
from sekisho.errors import InvalidInput, NotFound, SekishoError, TooManyRequests, Unavailable
from sekisho.problems import problem_response, raise_for_problem

KINDS = sorted(
    {
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, SekishoError) and c is not errors.ErrorList
    },
    key=lambda c: c.__name__,
)


def _as_response(exc: SekishoError) -> httpx.Response:
    answer = problem_response(exc)
    return httpx.Response(answer.status_code, headers=dict(answer.headers), content=bytes(answer.body))


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
def test_each_error_survives_the_trip(cls: type[SekishoError]) -> None:
    sent = cls("must be six digits", field="municipality")
    with pytest.raises(SekishoError) as exc:
        raise_for_problem(_as_response(sent))
    assert type(exc.value) is cls
    assert (exc.value.message, exc.value.field) == ("must be six digits", "municipality")


def test_success_returns_and_a_bare_status_maps_by_class() -> None:
    raise_for_problem(httpx.Response(200, json={"ok": True}))
    raise_for_problem(httpx.Response(204))
    cases: list[tuple[int, type[SekishoError]]] = [(404, NotFound), (400, InvalidInput), (502, Unavailable)]
    for status, cls in cases:
        # a proxy's page: nothing of its body is copied into the error
        page = httpx.Response(status, text="<html>髙橋 健一</html>", headers={"content-type": "text/html"})
        with pytest.raises(cls) as exc:
            raise_for_problem(page)
        assert "髙橋" not in str(exc.value)


def test_retry_after_is_kept() -> None:
    with pytest.raises(TooManyRequests) as exc:
        raise_for_problem(_as_response(TooManyRequests("over the limit", field="terminal", retry_after=9)))
    assert exc.value.retry_after == 9
