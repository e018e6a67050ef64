from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexes import IndexStore, NewWork, _kernels
from indexes import lookup as lookup_module
from indexes.lookup import KeyDirectory, KeyFilter, MemoryLookup, coarse_filter, rotated

WORDS = [f"w{i}" for i in range(3000)]


def add(store, source, words):
    text = " ".join(words)
    store.add_work(
        NewWork(
            source=source,
            kind="text",
            title=source,
            text=text,
            content_sha256=source,
            text_sha256=source,
            retrieved_at=datetime.now(timezone.utc),
        )
    )


@pytest.fixture
def filled(index_path):
    with IndexStore.open(index_path) as store:
        add(store, "a", WORDS[:400])
        add(store, "b", WORDS[1000:1400])
        boiler = WORDS[2000:2030]
        for name in ("c", "d", "e"):
            add(store, name, [f"{name}{i}" for i in range(100)] + boiler)
        store.refresh_common()
        yield store


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_band_hits_name_the_right_passages(filled, engine):
    fp = filled.fingerprinter
    scanned = fp.passages(fp.tokenize(" ".join(WORDS[100:170])), stride=5)
    keys = scanned.keys.reshape(-1)
    hits = filled.lookup(engine).bands(np.full(keys.shape, 3, dtype=np.int64), keys)
    assert len(hits) > 0
    assert set(hits.probe.tolist()) == {3}
    assert set(hits.work_id.tolist()) == {1}
    assert hits.start.min() >= 40
    assert hits.end.max() <= 230


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_anchor_hits_skip_common_anchors(filled, engine):
    fp = filled.fingerprinter
    quote = fp.passages(fp.tokenize(" ".join(WORDS[1200:1220])))
    lookup = filled.lookup(engine)
    hits = lookup.anchors(np.zeros(quote.anchor_keys.shape, dtype=np.int64), quote.anchor_keys, 12)
    assert set(hits.work_id.tolist()) == {2}
    assert ((hits.start >= 200) & (hits.end <= 232)).all()
    boiler = fp.passages(fp.tokenize(" ".join(WORDS[2000:2030])))
    assert len(lookup.anchors(np.zeros(boiler.anchor_keys.shape, dtype=np.int64), boiler.anchor_keys, 12)) == 0
    assert filled.common_positions(3)


def test_engines_agree(filled):
    fp = filled.fingerprinter
    text = " ".join(WORDS[50:150] + WORDS[1100:1180] + WORDS[2000:2030])
    scanned = fp.passages(fp.tokenize(text), stride=5)
    keys = scanned.keys.reshape(-1)
    probe = np.arange(keys.shape[0], dtype=np.int64) % 3
    results = []
    for engine in ("memory", "duckdb"):
        lookup = filled.lookup(engine)
        b = lookup.bands(probe, keys)
        a = lookup.anchors(probe[: scanned.anchor_keys.shape[0]], scanned.anchor_keys, 12)
        results.append(
            (
                sorted(zip(b.probe.tolist(), b.work_id.tolist(), b.start.tolist(), b.end.tolist(), strict=True)),
                sorted(zip(a.probe.tolist(), a.work_id.tolist(), a.start.tolist(), strict=True)),
            )
        )
    assert results[0] == results[1]
    assert results[0][0]
    assert results[0][1]
    assert filled.lookup("memory").band_passages.dtype == np.int32  # passage ids that fit in 32 bits


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300, unique=True), st.integers(-(2**63), 2**63 - 1))
def test_key_filter_never_drops_a_present_key(keys, other):
    present = np.array(keys, dtype=np.int64)
    maybe = KeyFilter(present)
    assert maybe(present).all()
    assert coarse_filter(present, maybe)(rotated(present)).all()
    assert maybe(np.array([other], dtype=np.int64)).shape == (1,)


def test_arrays_are_cached_beside_the_index_and_rebuilt_when_it_changes(filled, index_path, monkeypatch):
    monkeypatch.setattr(lookup_module, "CACHE_MIN_BANDS", 0)
    fp = filled.fingerprinter
    scanned = fp.passages(fp.tokenize(" ".join(WORDS[100:170])), stride=5)
    keys = scanned.keys.reshape(-1)
    probe = np.zeros(keys.shape, dtype=np.int64)
    built = filled.lookup("memory")
    cache = index_path.with_name(index_path.name + ".lookup")
    assert (cache / "version").is_file()
    loaded = filled.lookup("memory")
    assert isinstance(loaded.band_keys, np.memmap)
    assert loaded.bands(probe, keys).work_id.tolist() == built.bands(probe, keys).work_id.tolist()
    version = (cache / "version").read_text()
    add(filled, "f", WORDS[120:400])
    filled.refresh_common()
    rebuilt = filled.lookup("memory")
    assert (cache / "version").read_text() != version
    assert not isinstance(rebuilt.band_keys, np.memmap)
    assert set(rebuilt.bands(probe, keys).work_id.tolist()) == {1, 6}


def test_small_indexes_leave_no_cache(filled, index_path):
    filled.lookup("memory")
    assert not index_path.with_name(index_path.name + ".lookup").exists()


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=400),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=100),
    st.integers(1, 5),
)
def test_directory_finds_every_key_in_its_bucket(keys, others, repeat):
    sorted_keys = np.sort(np.array(keys * repeat, dtype=np.int64))
    directory = KeyDirectory(sorted_keys)
    buckets = directory.bucket(sorted_keys)
    assert (np.diff(buckets) >= 0).all()
    for key, bucket in zip(sorted_keys.tolist(), buckets.tolist(), strict=True):
        assert key in sorted_keys[directory.offsets[bucket] : directory.offsets[bucket + 1]].tolist()
    cached = KeyDirectory(sorted_keys, directory.offsets)
    assert cached.shift == directory.shift
    probes = np.array(others, dtype=np.int64)
    assert (cached.bucket(probes) == directory.bucket(probes)).all()


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed (pip install numba)")
def test_compiled_and_numpy_lookups_agree():
    rng = np.random.default_rng(3)
    keys = rng.integers(-(2**63), 2**63 - 1, 50_000, dtype=np.int64)
    keys = np.sort(np.concatenate([keys, keys[:500], keys[:50], [np.iinfo(np.int64).min, np.iinfo(np.int64).max]]))
    probes = np.concatenate([rng.choice(keys, 3000), rng.integers(-(2**63), 2**63 - 1, 20_000, dtype=np.int64)])
    probes = np.concatenate([probes, [np.iinfo(np.int64).min, np.iinfo(np.int64).max]])
    owners = np.arange(probes.shape[0], dtype=np.int64) % 5
    fine = KeyFilter(keys)
    args = (keys, fine, coarse_filter(keys, fine), KeyDirectory(keys), owners, probes)
    compiled = MemoryLookup._match(*args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_kernels, "available", lambda: False)
        plain = MemoryLookup._match(*args)
    assert compiled[0].tolist() == plain[0].tolist()
    assert compiled[1].tolist() == plain[1].tolist()
    assert len(compiled[0]) >= 3000
