import subprocess
import sys

import numpy as np

from indexes.fingerprint import Fingerprinter
from indexes.params import IndexParams

TEXT = " ".join(f"word{i % 97} filler{i % 13}" for i in range(400))


def test_passages_have_one_row_of_keys_per_window():
    fp = Fingerprinter(IndexParams())
    passages = fp.passages(fp.tokenize(TEXT))
    assert passages.keys.shape == (len(passages), fp.params.bands)
    assert passages.signatures.shape == (len(passages), 128)
    starts, ends = passages.char_ranges()[0]
    assert TEXT[starts:ends].startswith("word0 filler0")


def test_text_shorter_than_a_shingle_has_no_passages():
    fp = Fingerprinter(IndexParams())
    assert len(fp.passages(fp.tokenize("too short"))) == 0


def test_same_fingerprints_in_a_fresh_process():
    """Fingerprints may not depend on the process (hash randomization, caches)."""
    code = (
        "from indexes.fingerprint import Fingerprinter; from indexes.params import IndexParams;"
        "fp = Fingerprinter(IndexParams()); import sys;"
        f"sys.stdout.write(fp.passages(fp.tokenize({TEXT!r})).keys.tobytes().hex())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    fp = Fingerprinter(IndexParams())
    assert fp.passages(fp.tokenize(TEXT)).keys.tobytes().hex() == other


def test_a_batch_holds_each_texts_own_passages():
    fp = Fingerprinter(IndexParams())
    texts = ["", "too short", " ".join(f"a{i}" for i in range(54)), " ".join(f"b{i}" for i in range(333))]
    batch = fp.passages_many(fp.tokenize_many(texts), stride=10)
    assert len(batch) == len(texts)
    for i, text in enumerate(texts):
        alone = fp.passages(fp.tokenize(text), stride=10)
        got = batch.passages(i)
        assert got.ranges.tolist() == alone.ranges.tolist()
        assert got.keys.tolist() == alone.keys.tolist()
        assert got.anchor_keys.tolist() == alone.anchor_keys.tolist()
    owners = batch.key_owners()
    assert owners.shape[0] == batch.keys.size
    assert np.bincount(owners, minlength=len(texts)).tolist() == [
        len(batch.passages(i)) * fp.params.bands for i in range(4)
    ]
