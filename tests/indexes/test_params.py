import pytest

from indexes.params import IndexParams


def test_round_trip_through_json():
    p = IndexParams(threshold=0.6, passage_words=40)
    assert IndexParams.from_json(p.to_json()) == p


def test_bands_derived_from_threshold_and_stored():
    p = IndexParams()
    assert p.bands > 0
    assert p.rows > 0
    assert p.with_threshold(0.8).rows > p.rows


def test_unknown_keys_rejected():
    with pytest.raises(ValueError, match="unknown"):
        IndexParams.from_json('{"shingle_words": 5, "colour": "red"}')


def test_invalid_geometry_rejected():
    with pytest.raises(ValueError, match="shingle_words"):
        IndexParams(shingle_words=10, passage_words=5)
    with pytest.raises(ValueError, match="passage_stride"):
        IndexParams(passage_stride=0)


def test_differences_name_the_fields():
    assert IndexParams().differences(IndexParams(seed=2)) == ["seed: 1 != 2"]
