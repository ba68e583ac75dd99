"""Counts, Cohen's κ against a hand computation, disagreements, the labelling queue and pairs."""

from __future__ import annotations

import pytest

from core.data.importer import import_table
from core.data.io import RawTable
from core.data.repo import list_items, record_vote, set_label
from core.data.review import (
    agreement,
    annotators,
    counts_by_category,
    counts_by_label,
    disagreements,
    labels_by_item_id,
    next_in_queue,
    pair_of,
    pairs,
    queue_size,
)
from core.errors import InputError

A = ["safe", "safe", "safe", "safe", "unsafe", "unsafe", "unsafe", "unsafe", "rethink", "rethink"]
B = ["safe", "safe", "safe", "unsafe", "unsafe", "unsafe", "unsafe", "safe", "rethink", "unsafe"]
# Hand computation: observed p_o = 7/10. Marginals A (s,u,r) = (4,4,2), B = (4,5,1), so chance
# p_e = (4*4 + 4*5 + 2*1) / 100 = 0.38 and κ = (0.70 - 0.38) / (1 - 0.38) = 0.32 / 0.62 = 0.516129…
HAND_KAPPA = 0.32 / 0.62


def _dataset(db, n=10, name="d"):
    rows = [
        (
            i + 1,
            {
                "id": f"i{i}",
                "prompt": f"p{i}",
                "category": ["weapons", "cyber"][i % 2],
                "pair_id": f"pair{i // 2}" if i < 4 else None,
            },
        )
        for i in range(n)
    ]
    import_table(
        db,
        RawTable("t.jsonl", "jsonl", ["id", "prompt", "category", "pair_id"], rows),
        name,
        annotator="seeder",
    )
    return list_items(db, name)


def test_counts_by_label_and_category(db):
    items = _dataset(db, n=4)
    set_label(db, items[0].pk, "unsafe", expected_version=1, annotator="ada")
    set_label(db, items[1].pk, "safe", expected_version=1, annotator="ada")
    assert counts_by_label(db, "d") == {"safe": 1, "unsafe": 1, "rethink": 0, "unlabelled": 2}
    got = [(c.category, c.label, c.n) for c in counts_by_category(db, "d")]
    assert got == [
        ("cyber", "safe", 1),
        ("cyber", "unlabelled", 1),
        ("weapons", "unsafe", 1),
        ("weapons", "unlabelled", 1),
    ]
    assert labels_by_item_id(db, "d") == {"i0": "unsafe", "i1": "safe", "i2": None, "i3": None}


def test_kappa_matches_hand_computation_and_lists_disagreements(db):
    items = _dataset(db)
    for item, a, b in zip(items, A, B, strict=True):
        record_vote(db, item.pk, a, annotator="ann")
        record_vote(db, item.pk, b, annotator="ben")
    result = agreement(db, "d", "ann", "ben")
    assert result.n_common == 10 and result.observed == pytest.approx(0.7)
    assert result.kappa == pytest.approx(HAND_KAPPA, abs=1e-12)
    assert "κ = 0.516" in result.note
    dis = disagreements(db, "d")
    assert [d.item.item_id for d in dis] == ["i3", "i7", "i9"]
    assert dis[0].votes == {"ann": "safe", "ben": "unsafe"}
    # the first vote set each item's label; the second annotator's votes never overwrote it
    assert [i.label for i in list_items(db, "d")] == A
    assert annotators(db, "d") == {"ann": 10, "ben": 10}


def test_kappa_edge_cases(db):
    items = _dataset(db, n=3)
    assert agreement(db, "d", "ann", "ben").kappa is None  # nothing in common yet
    record_vote(db, items[0].pk, "safe", annotator="ann")
    record_vote(db, items[0].pk, "safe", annotator="ben")
    one = agreement(db, "d", "ann", "ben")
    assert one.kappa is None and one.n_common == 1 and "at least 2" in one.note
    record_vote(db, items[1].pk, "safe", annotator="ann")
    record_vote(db, items[1].pk, "safe", annotator="ben")
    same = agreement(db, "d", "ann", "ben")  # both used one label only: κ is 0/0
    assert same.kappa is None and same.observed == 1.0 and "undefined" in same.note
    with pytest.raises(InputError, match="two different annotators"):
        agreement(db, "d", "ann", "ann")


def test_queue_unlabelled_and_unreviewed_with_skip(db):
    items = _dataset(db, n=4)
    assert next_in_queue(db, "d", "ann").item_id == "i0"
    assert next_in_queue(db, "d", "ann", skip=[items[0].pk]).item_id == "i1"
    assert next_in_queue(db, "d", "ann", category="cyber").item_id == "i1"
    assert queue_size(db, "d", "ann") == 4
    record_vote(db, items[0].pk, "unsafe", annotator="ann")
    assert next_in_queue(db, "d", "ben").item_id == "i1"  # i0 is labelled now
    # ben reviews items he has not voted on, labelled or not
    assert next_in_queue(db, "d", "ben", mode="unreviewed").item_id == "i0"
    assert next_in_queue(db, "d", "ann", mode="unreviewed").item_id == "i1"
    for it in items[1:]:
        record_vote(db, it.pk, "safe", annotator="ann")
    assert next_in_queue(db, "d", "ann") is None and queue_size(db, "d", "ann") == 0
    assert queue_size(db, "d", "ben", mode="unreviewed") == 4
    with pytest.raises(InputError, match="Unknown queue mode"):
        next_in_queue(db, "d", "ann", mode="random")  # type: ignore[arg-type]


def test_pairs(db):
    _dataset(db, n=6)
    found = pairs(db, "d")
    assert [(p.pair_id, [i.item_id for i in p.items]) for p in found] == [
        ("pair0", ["i0", "i1"]),
        ("pair1", ["i2", "i3"]),
    ]
    assert [i.item_id for i in pair_of(db, "d", "pair1").items] == ["i2", "i3"]
    with pytest.raises(InputError, match="no_such"):
        pair_of(db, "d", "no_such")


def test_resolving_takes_an_item_off_the_disagreement_list_until_someone_votes_again(db):
    items = _dataset(db, n=2)
    for it in items:
        record_vote(db, it.pk, "unsafe", annotator="ann")
        record_vote(db, it.pk, "safe", annotator="ben")
    assert [d.item.item_id for d in disagreements(db, "d")] == ["i0", "i1"]
    current = list_items(db, "d")[0]
    rec = set_label(
        db,
        current.pk,
        "unsafe",
        expected_version=current.version,
        annotator="cat",
        comment="resolved",
        vote=False,
    )  # keeps the label, but is recorded as a resolution
    assert rec.version == current.version + 1
    from core.data.repo import label_history

    assert label_history(db, item_pk=current.pk)[0].kind == "resolve"
    assert [d.item.item_id for d in disagreements(db, "d")] == ["i1"]
    assert len(disagreements(db, "d", include_resolved=True)) == 2
    assert "cat" not in annotators(db, "d")  # a resolution is not a vote
    record_vote(db, current.pk, "safe", annotator="ben")  # a fresh vote re-opens it
    assert [d.item.item_id for d in disagreements(db, "d")] == ["i0", "i1"]
