"""bench.py keeps running (a few iterations; the figures are in docs/SDK.md)."""

from bench import run


def test_bench_runs() -> None:
    r = run(number=50, fresh=20)
    assert set(r) == {"verify+authorize", "verify", "authorize", "verify+authorize, first use"}
    assert all(us > 0 for us in r.values())
