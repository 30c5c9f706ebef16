"""TTLCache: freshness at, just before and just after the TTL; the clock is a parameter."""

from __future__ import annotations

import pytest

from ds_monitor.ds.cache import TTLCache


@pytest.mark.parametrize(
    ("age", "fresh"),
    [(0.0, True), (299.999, True), (300.0, False), (300.001, False)],
    ids=["just-stored", "just-before-ttl", "at-ttl", "after-ttl"],
)
def test_entry_is_fresh_until_the_ttl(age, fresh):
    cache = TTLCache(300)
    cache.put("k", "v", now=50.0)
    assert cache.get("k", now=50.0 + age) == ((True, "v") if fresh else (False, None))


def test_expired_entry_is_dropped_and_put_refreshes():
    cache = TTLCache(10)
    cache.put("k", 1, now=0)
    assert cache.get("k", now=10) == (False, None)
    assert len(cache) == 0
    cache.put("k", 2, now=10)
    assert cache.get("k", now=19) == (True, 2)


def test_missing_key_and_clear():
    cache = TTLCache(10)
    assert cache.get("nope", now=0) == (False, None)
    cache.put("a", 1, now=0)
    cache.clear()
    assert cache.get("a", now=0) == (False, None)


def test_zero_ttl_never_hits():
    cache = TTLCache(0)
    cache.put("k", 1, now=5)
    assert cache.get("k", now=5) == (False, None)


def test_negative_ttl_is_refused():
    with pytest.raises(ValueError, match="ttl_seconds"):
        TTLCache(-1)
