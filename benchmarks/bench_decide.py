"""decide() on a group of 1,000,000 codes beside a bare dict.get on the same keys."""

from __future__ import annotations

import pytest

import callcodes as cc
from conftest import Ratios, authorization_book, loop, sample

SIZE = 1_000_000


@pytest.fixture(scope="module")
def million() -> tuple[cc.CodeBook, list[str], dict[str, cc.CodeEntry]]:
    book, codes = authorization_book(SIZE)
    plain = {code: cc.CodeEntry(code) for code in codes}
    return book, sample(codes), plain


def test_floor_dict_get(benchmark, million, ratios: Ratios) -> None:
    _, keys, plain = million
    benchmark(loop(plain.get, keys))
    ratios.record("dict.get, 1e6 keys", benchmark)


def test_decide_valid_authorization(benchmark, million, ratios: Ratios) -> None:
    book, keys, _ = million
    call = cc.Call("acme", "alice", "12125551234", cc.CallType.NATIONAL)

    def judge(code: str) -> None:
        cc.decide(book, call, code)

    benchmark(loop(judge, keys))
    ratios.record("decide valid authorization, 1e6 codes", benchmark)
    ratios.report("decide valid authorization, 1e6 codes", "dict.get, 1e6 keys")
    assert cc.decide(book, call, keys[0]).reason is cc.Reason.AUTHORIZED
