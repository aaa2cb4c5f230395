"""The name cache is bounded by bytes: hostile names cannot grow the server's memory."""

from __future__ import annotations

import threading

from forge.core import naming
from forge.core.cache import ENTRY_OVERHEAD, ByteBoundedCache, cached_by_bytes


def test_the_budget_holds_whatever_goes_in():
    cache = ByteBoundedCache(max_bytes=10_000)
    for i in range(1_000):
        cache.put((f"{i:0253d}",), "x" * 63)
    assert cache.bytes <= 10_000
    assert len(cache) == 10_000 // (ENTRY_OVERHEAD + 253 + 63)


def test_the_least_recently_used_goes_first():
    cache = ByteBoundedCache(max_bytes=3 * (ENTRY_OVERHEAD + 2))
    for key in "abc":
        cache.put((key,), key)
    assert cache.get(("a",)) == "a"  # a is now the most recent
    cache.put(("d",), "d")
    assert cache.get(("b",)) is None
    assert [cache.get((k,)) for k in "acd"] == ["a", "c", "d"]


def test_an_entry_larger_than_the_budget_is_not_kept():
    cache = ByteBoundedCache(max_bytes=1_000)
    cache.put(("k" * 4_000_000,), "v")
    assert len(cache) == 0 and cache.bytes == 0


def test_the_name_cache_stays_within_its_budget_under_many_long_names():
    """naming.name kept 4,096 entries of any size: 3.9 MB names took RSS to 1.2 GiB."""
    for i in range(20_000):
        naming.name(f"{i}-" + "a" * 250, "cluster")
    assert naming.name.cache.bytes <= naming.CACHE_BYTES
    naming.name("x" * 4_000_000)
    assert naming.name.cache.bytes <= naming.CACHE_BYTES


def test_threads_sharing_a_cache_keep_it_consistent():
    @cached_by_bytes(5_000)
    def upper(text: str) -> str:
        return text.upper()

    def work(seed: int) -> None:
        for i in range(2_000):
            assert upper(f"{(seed * i) % 97}") == f"{(seed * i) % 97}".upper()

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert upper.cache.bytes <= 5_000
