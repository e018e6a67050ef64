"""The audit pipeline: scanned text -> sliding windows -> LSH candidates -> verified matches.

Candidates come from the index's band table (one join per batch of scanned texts); each candidate
work is then aligned with the scanned text, restricted to the neighbourhood of the candidate
passages, and every region that shares enough words becomes a ``Match`` with exact offsets.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from connectors import sha256_hex
from connectors.youtube import youtube_url
from indexes import IndexStoreError
from provenance.align import Alignment, align
from provenance.inputs import ScanItem
from provenance.match import Match, WorkRights
from provenance.options import AuditOptions

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from indexes import Fingerprinter, IndexParams, IndexStore, Passages
    from indexes.store import MetaValue, StoredWork


class WorkIdentity(Protocol):
    """What a match shows of a work (``WorkRecord`` has it)."""

    @property
    def work_id(self) -> int:
        """The work's id in the index."""
        ...

    @property
    def source(self) -> str:
        """Where the work was indexed from."""
        ...

    @property
    def title(self) -> str:
        """The work's title."""
        ...

    @property
    def kind(self) -> str:
        """The connector's kind (``markdown``, ``youtube`` ...)."""
        ...

    @property
    def metadata(self) -> dict[str, MetaValue]:
        """The connector's metadata (``video_id`` makes links)."""
        ...


@dataclass(frozen=True, eq=False)
class WorkSide:
    """The work side of a verification: what the index stores about one work, fingerprinted again.

    ``common`` is the running count of work tokens inside common anchors (stock phrases,
    boilerplate), so the evidence of an alignment costs O(1) per block.
    """

    work_id: int
    source: str
    title: str
    kind: str
    metadata: dict[str, MetaValue]
    text: str
    passages: Passages
    cues: list[tuple[int, int, float, float]]
    consent: tuple[str, str] | None
    common: npt.NDArray[np.int64]
    rights: WorkRights = field(default_factory=WorkRights)

    @classmethod
    def build(
        cls,
        fingerprinter: Fingerprinter,
        record: WorkIdentity,
        text: str,
        *,
        cues: list[tuple[int, int, float, float]],
        consent: tuple[str, str] | None,
        common_positions: list[int],
        rights: WorkRights | None = None,
    ) -> WorkSide:
        """Fingerprint a work's stored text; ``common_positions`` are its common anchors' token positions.

        ``record`` is a ``WorkRecord``, or any value with the fields a match shows (engines that ship
        works without the rest of their record pass ``WorkIdentity``-shaped values). ``rights`` are the
        work's creator, rights and declared consent that every match carries; ``consent`` (observed at
        retrieval: status, summary) is set on them.
        """
        passages = fingerprinter.passages(fingerprinter.tokenize(text))
        mask = _common_mask(len(passages.tokens), common_positions, fingerprinter.params)
        return cls(
            work_id=record.work_id,
            source=record.source,
            title=record.title,
            kind=record.kind,
            metadata=record.metadata,
            text=text,
            passages=passages,
            cues=cues,
            consent=consent,
            common=np.concatenate([[0], np.cumsum(mask, dtype=np.int64)]),
            rights=replace(
                rights or WorkRights(),
                consent_status=consent[0] if consent else None,
                consent_summary=consent[1] if consent else None,
            ),
        )

    def evidence(self, al: Alignment) -> int:
        """Shared words of an alignment that are not stock phrases or boilerplate."""
        return sum(blk.size - int(self.common[blk.b + blk.size] - self.common[blk.b]) for blk in al.blocks)


class Auditor:
    """Audits texts against one open index."""

    def __init__(self, store: IndexStore, options: AuditOptions | None = None, *, cache_works: int = 256) -> None:
        self.store = store
        self.options = options or AuditOptions()
        self.fingerprinter = store.fingerprinter
        self.lookup = store.lookup(self.options.lookup)
        self._works: OrderedDict[int, WorkSide] = OrderedDict()
        self._cache_works = cache_works

    def audit(self, items: Iterable[ScanItem]) -> Iterator[tuple[ScanItem, list[Match]]]:
        """Each item with its matches (possibly none), in input order, batched for the lookups."""
        batch: list[ScanItem] = []
        for item in items:
            batch.append(item)
            if len(batch) >= self.options.batch_size:
                yield from self._audit_batch(batch)
                batch = []
        if batch:
            yield from self._audit_batch(batch)

    def audit_text(self, text: str, scanned: str = "<text>") -> list[Match]:
        """Matches of one text, for library callers."""
        item = ScanItem(text=text, scanned=scanned, sha256=sha256_hex(text.encode("utf-8")))
        return next(iter(self.audit([item])))[1]

    # -- stages ----------------------------------------------------------------------------------

    def _audit_batch(self, batch: list[ScanItem]) -> Iterator[tuple[ScanItem, list[Match]]]:
        fp = self.fingerprinter
        windows = fp.passages_many(fp.tokenize_many([item.text for item in batch]), stride=self.options.scan_stride)
        found = (
            self.lookup.bands(windows.key_owners(), windows.keys.reshape(-1)),
            self.lookup.anchors(windows.anchor_owners(), windows.anchor_keys, fp.params.anchor_run),
        )
        candidates: dict[int, dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        banded: set[tuple[int, int]] = set()
        anchored: dict[tuple[int, int], set[int]] = defaultdict(set)
        for kind, hits in enumerate(found):
            for probe, work_id, start, end in zip(
                hits.probe.tolist(), hits.work_id.tolist(), hits.start.tolist(), hits.end.tolist(), strict=True
            ):
                candidates[probe][work_id].append((start, end))
                if kind == 0:
                    banded.add((probe, work_id))
                else:
                    anchored[probe, work_id].add(start)
        chosen = {
            i: [
                (work_id, ranges)
                for work_id, ranges in sorted(by_work.items())
                if is_candidate(band_hits=int((i, work_id) in banded), anchor_hits=len(anchored[i, work_id]))
            ]
            for i, by_work in candidates.items()
        }
        self._prefetch({work_id for found in chosen.values() for work_id, _ in found})
        for i, item in enumerate(batch):
            matches: list[Match] = []
            for work_id, ranges in chosen.get(i, []):
                matches.extend(verify(item, windows.passages(i), self._work(work_id), ranges, self.options, fp.params))
            matches.sort(key=lambda m: (m.scanned_span[0], m.work_id))
            yield item, matches

    def _prefetch(self, work_ids: set[int]) -> None:
        """Load the works a batch will verify against that are not cached, in a few queries for all of them."""
        missing = sorted(w for w in work_ids if w not in self._works)[: self._cache_works]
        for work_id, stored in self.store.works_to_verify(missing).items():
            self._keep(work_id, self._side(stored))

    def _work(self, work_id: int) -> WorkSide:
        cached = self._works.get(work_id)
        if cached is not None:
            self._works.move_to_end(work_id)
            return cached
        stored = self.store.works_to_verify([work_id]).get(work_id)
        if stored is None:
            raise IndexStoreError(self.store.path, f"no work with id {work_id}")
        return self._keep(work_id, self._side(stored))

    def _side(self, stored: StoredWork) -> WorkSide:
        record = stored.record
        return WorkSide.build(
            self.fingerprinter,
            record,
            stored.text,
            cues=stored.cues,
            consent=stored.consent,
            common_positions=stored.common_positions,
            rights=WorkRights(
                creator=record.creator,
                rights_holder=record.rights_holder,
                org_id=record.org_id,
                licence=record.licence,
                consent_declared=record.consent_declared,
                consent_declared_source=record.consent_declared_source,
            ),
        )

    def _keep(self, work_id: int, work: WorkSide) -> WorkSide:
        self._works[work_id] = work
        self._works.move_to_end(work_id)
        if len(self._works) > self._cache_works:
            self._works.popitem(last=False)
        return work


def verify(
    item: ScanItem,
    scanned: Passages,
    work: WorkSide,
    ranges: Iterable[tuple[int, int]],
    options: AuditOptions,
    params: IndexParams,
) -> list[Match]:
    """The verified matches of one scanned text with one candidate work; a pure function of its inputs.

    ``scanned`` are the text's windows (``Fingerprinter.passages`` at ``options.scan_stride``);
    ``ranges`` the work's candidate token ranges ``[start, end)`` (passages sharing a band key, anchor
    runs), in any order: alignment is restricted to them, widened by a passage length each way.
    """
    margin = params.passage_words
    mask = np.zeros(len(work.passages.tokens), dtype=np.bool_)
    for start, end in ranges:
        mask[max(0, start - margin) : end + margin] = True
    alignments = align(
        scanned.tokens.hashes,
        work.passages.tokens.hashes,
        seed_words=options.seed_words,
        max_gap=options.max_gap,
        b_mask=mask,
    )
    found = []
    for al in alignments:
        if al.matched < options.min_words or al.similarity < options.min_score:
            continue
        evidence = work.evidence(al)
        if evidence >= options.min_words:
            found.append(_match(item, scanned, work, al, evidence))
    return found


def _match(item: ScanItem, scanned: Passages, work: WorkSide, al: Alignment, evidence: int) -> Match:
    a_span = scanned.tokens.char_span(al.a_start, al.a_end)
    b_span = work.passages.tokens.char_span(al.b_start, al.b_end)
    work_time = _time_range(work.cues, b_span)
    return Match(
        work_id=work.work_id,
        source=work.source,
        title=work.title,
        kind=work.kind,
        scanned=item.scanned,
        record_id=item.record_id,
        score=al.similarity,
        estimated_similarity=_estimated_similarity(scanned, work.passages, al),
        containment=al.containment,
        verbatim_words=al.longest,
        matched_words=al.matched,
        evidence_words=evidence,
        scanned_span=a_span,
        work_span=b_span,
        scanned_excerpt=item.text[a_span[0] : a_span[1]],
        work_excerpt=work.text[b_span[0] : b_span[1]],
        work_time=work_time,
        link=_link(work, work_time),
    ).with_rights(work.rights)


def _link(work: WorkSide, work_time: tuple[float, float] | None) -> str | None:
    """Where to see the passage: a video at the second it starts, a web page, else nothing."""
    video_id = work.metadata.get("video_id")
    if work.kind == "youtube" and isinstance(video_id, str):
        return youtube_url(video_id, start_s=work_time[0] if work_time else None)
    if work.source.startswith(("http://", "https://")):
        return work.source
    return None


MIN_ANCHORS = 2


def is_candidate(*, band_hits: int, anchor_hits: int) -> bool:
    """Whether a work is worth verifying against a scanned text: an LSH band in common, or two anchors.

    One anchor alone is mostly an uncommon 5-word phrase shared by chance; any shared run of 20 words
    or more is guaranteed two (two disjoint winnowing windows), so short quotes are still found.
    """
    return band_hits > 0 or anchor_hits >= MIN_ANCHORS


def _common_mask(n_tokens: int, positions: list[int], params: IndexParams) -> npt.NDArray[np.bool_]:
    """Work tokens covered by common anchors, including the gaps between neighbouring ones."""
    mask = np.zeros(n_tokens, dtype=np.bool_)
    k = params.shingle_words
    for i, pos in enumerate(positions):
        end = pos + k
        if i + 1 < len(positions) and positions[i + 1] - pos <= params.anchor_window:
            end = positions[i + 1] + k
        mask[pos:end] = True
    return mask


def _overlapping(ranges: np.ndarray, start: int, end: int) -> np.ndarray:
    return np.nonzero((ranges[:, 0] < end) & (ranges[:, 1] > start))[0]


def _estimated_similarity(scanned: Passages, work: Passages, al: Alignment) -> float:
    """Best signature agreement between a scanned window and a work passage inside the region."""
    a_idx = _overlapping(scanned.ranges, al.a_start, al.a_end)
    b_idx = _overlapping(work.ranges, al.b_start, al.b_end)
    if a_idx.size == 0 or b_idx.size == 0:
        return 0.0
    sa = scanned.signatures[a_idx]
    sb = work.signatures[b_idx][None, :, :]
    chunk = max(1, (1 << 22) // sb.size)  # compare about 4 M values at a time
    return max(float((sa[i : i + chunk, None, :] == sb).mean(axis=2).max()) for i in range(0, sa.shape[0], chunk))


def _time_range(cues: list[tuple[int, int, float, float]], span: tuple[int, int]) -> tuple[float, float] | None:
    """Media time covered by the cues that overlap a character span of a transcript."""
    times = [(s, e) for a, b, s, e in cues if a < span[1] and b > span[0]]
    if not times:
        return None
    return min(s for s, _ in times), max(e for _, e in times)
