"""Event ids in Arrow (psa_geo._ids): the same ids as the plain rule, whichever way they
are built, and event_id and crime_id sharing one text buffer when pyarrow reads the file."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from test_police_uk import ASB, row, write_csv

import psa_geo
from psa_geo import _fastcsv, _ids

SPACES = " \t\u00a0"  # spaces that str.strip and utf8_trim_whitespace agree on


def plain_rule(raw: list[str], fallback: list[str]) -> tuple[list[str], list[str | None]]:
    """The event ids and crime ids of ``raw``, one Python string at a time."""
    events, seen = [], {}
    for text, other in zip(raw, fallback, strict=True):
        event = text.strip(SPACES) or other
        seen[event] = seen.get(event, 0) + 1
        events.append(event if seen[event] == 1 else f"{event}#{seen[event]}")
    return events, [text or None for text in raw]


def fallback_of(names: list[str]):
    def fallback(at: np.ndarray) -> pa.Array:
        return pa.array([names[i] for i in at], pa.large_string())

    return fallback


def random_ids(rng: np.random.Generator, n: int) -> list[str]:
    pool = [f"{rng.integers(16**6):06x}" * rng.integers(1, 12) for _ in range(n // 3)]
    pool += ["", "", "x.csv:7", "é", " "]
    ids = [str(rng.choice(pool)) for _ in range(n)]
    for i in rng.choice(n, n // 20, replace=False):
        ids[i] = f"{rng.choice(list(SPACES))}{ids[i]}{rng.choice(list(SPACES))}"
    return ids


def chunked(ids: list[str], fallback: list[str], cuts: list[int], hidden: bool) -> pa.ChunkedArray:
    """``ids`` as chunks cut at ``cuts``; ``hidden``: each chunk as the reader stores it
    (blank ids missing, their fallback ids beneath)."""
    chunks = []
    for start, end in zip([0, *cuts], [*cuts, len(ids)], strict=True):
        chunk = pa.array(ids[start:end], pa.large_string())
        if hidden:
            names = fallback[start:end]
            chunk = _ids.hide_fallback_ids(chunk, fallback_of(names))
        chunks.append(chunk)
    return pa.chunked_array(chunks, pa.large_string())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("hidden", [False, True], ids=["as-read", "hidden"])
@pytest.mark.parametrize("route", ["hash", "collisions", "lengths", "rebuilt", "crowded"])
def test_event_ids_follow_the_plain_rule(monkeypatch, seed, hidden, route):
    rng = np.random.default_rng(seed)
    n = 600
    ids = random_ids(rng, n)
    fallback = [f"f{i % 250}.csv:{i % 250 + 2}" for i in range(n)]  # files of one name repeat
    if route == "collisions":  # every hash the same: the text decides
        monkeypatch.setattr(_ids, "_hash_rows", lambda text: np.zeros(len(text), np.uint64))
    if route == "lengths":  # too many lengths to hash: the text decides
        monkeypatch.setattr(_ids, "MAX_LENGTHS", 2)
    if route == "rebuilt":  # the repeats rebuilt in one buffer, not spliced in
        monkeypatch.setattr(_ids, "MAX_PIECES", 3)
    if route == "sorted":  # too few buckets: every hash sorted
        monkeypatch.setattr(_ids, "MAX_BUCKET_BITS", 2)
    if route == "hidden-in-parts":  # fallback ids checked a few at a time
        monkeypatch.setattr(_ids, "CHECK_ROWS", 7)
    cuts = sorted(rng.choice(np.arange(1, n), 4, replace=False).tolist())
    events, sources, repeats = _ids.event_ids(
        chunked(ids, fallback, cuts, hidden), fallback_of(fallback)
    )
    want_events, want_sources = plain_rule(ids, fallback)
    assert events.to_pylist() == want_events
    assert sources.to_pylist() == want_sources
    assert events.null_count == 0
    bases = [text.strip(SPACES) or other for text, other in zip(ids, fallback, strict=True)]
    assert repeats == len(bases) - len(set(bases))


def test_repeats_are_found_across_chunks_and_numbered_in_order():
    ids = pa.chunked_array([pa.array(["a", "b"], pa.large_string()),
                            pa.array(["a", "c", "a", "b"], pa.large_string())])  # fmt: skip
    rows, numbers = _ids.repeats(ids)
    assert rows.tolist() == [2, 4, 5]
    assert numbers.tolist() == [2, 3, 2]


def test_hidden_fallback_ids_are_not_shown_as_crime_ids():
    ids = pa.array(["a", "", "b", ""], pa.large_string())
    hidden = _ids.hide_fallback_ids(ids, fallback_of(["-", "x:3", "-", "x:5"]))
    assert hidden.to_pylist() == ["a", None, "b", None]
    padded = pa.array([" a", ""], pa.large_string())  # kept as read: stripped later
    assert _ids.hide_fallback_ids(padded, fallback_of(["-", "x:3"])).equals(padded)


def buffers(values) -> set[int]:
    return {chunk.buffers()[2].address for chunk in values.array._pa_array.chunks}


def test_event_id_and_crime_id_share_their_text(tmp_path, monkeypatch):
    # Small segments: the file is read in many, a chunk each.
    monkeypatch.setattr(_fastcsv, "SEGMENT_BYTES", 4096)
    monkeypatch.setattr(_fastcsv, "BLOCK_BYTES", 1024)
    rows = [row(crime_id=f"{i:064x}") if i % 3 else ASB for i in range(2_000)]
    rows[1_500] = rows[1]  # a repeat, numbered #2
    path = write_csv(tmp_path / "2019-01-devon-and-cornwall-street.csv", rows)
    events = psa_geo.read_police_uk(path, use_cache=False)
    assert events["event_id"].array._pa_array.num_chunks > 3
    assert buffers(events["crime_id"]) <= buffers(events["event_id"])
    assert events["crime_id"].isna().sum() == 666  # blank Crime IDs are missing
    assert events.loc[0, "event_id"] == "2019-01-devon-and-cornwall-street.csv:2"
    assert events.loc[1_500, "event_id"] == f"{1:064x}#2"
    assert events.loc[1_500, "crime_id"] == f"{1:064x}"
    text = pc.sum(pc.binary_length(events["event_id"].array._pa_array)).as_py()
    held = sum(chunk.buffers()[2].size for chunk in events["event_id"].array._pa_array.chunks)
    assert held < 1.5 * text  # the text once, not once per column
