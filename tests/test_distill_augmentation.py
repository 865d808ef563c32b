import torch

from fedrobust.distill.augmentation import augment_texts
from fedrobust.distill.pipeline import _training_rows


def test_augmented_copies_come_from_their_source_and_are_seeded():
    texts = ["a great and moving film about two friends", "dull", ""]
    copies, sources = augment_texts(texts, copies=3, seed=1, p_mask=0.3, p_swap=0.2, p_ngram=0.5)
    assert sources == [0, 0, 0, 1, 1, 1]  # empty texts get no copies
    vocabulary = set(" ".join(texts).split()) | {"[MASK]"}
    assert all(set(c.split()) <= vocabulary for c in copies)
    assert any(c != texts[0] for c in copies[:3])
    assert augment_texts(texts, copies=3, seed=1, p_mask=0.3, p_swap=0.2, p_ngram=0.5) == (copies, sources)


def test_training_rows_never_include_copies_of_validation_texts():
    n, copies = 10, 2
    sources = torch.tensor(list(range(n)) + [i for i in range(n) for _ in range(copies)])
    logits = torch.randn(len(sources), 2)
    cache = {"logits": logits, "source_index": sources}
    train_orig = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    labels, rows = _training_rows(cache, [1] * n, train_orig, use_augmented=True)
    assert len(rows) == 8 + 8 * copies
    assert set(sources[rows].tolist()) == set(train_orig.tolist())
    assert torch.equal(labels[n:], logits[n:].argmax(1))  # copies learn the teacher's label
    assert torch.equal(labels[:n], torch.ones(n, dtype=torch.long))
    _, plain = _training_rows(cache, [1] * n, train_orig, use_augmented=False)
    assert torch.equal(plain, train_orig)


def test_training_rows_can_limit_the_copies_per_text():
    n = 4
    sources = torch.tensor([0, 1, 2, 3] + [0, 0, 0, 1, 1, 1, 3, 3, 3])  # text 2 had no copies
    cache = {"logits": torch.randn(len(sources), 2), "source_index": sources}
    _, rows = _training_rows(cache, [0] * n, torch.tensor([0, 1, 2, 3]), use_augmented=True, max_copies=1)
    assert rows.tolist() == [0, 1, 2, 3, 4, 7, 10]


def test_transfer_rows_train_with_the_teachers_label_and_can_be_switched_off():
    n = 4
    sources = torch.tensor([0, 1, 2, 3] + [0, 0, 1, 1, 2, 2, 3, 3] + [-1, -1, -1])  # copies, then 3 transfer texts
    logits = torch.randn(len(sources), 2)
    cache = {"logits": logits, "source_index": sources}
    train_orig = torch.tensor([0, 2, 3])  # text 1 is a validation text
    labels, rows = _training_rows(cache, [0] * n, train_orig, use_augmented=True, max_copies=1)
    assert rows.tolist() == [0, 2, 3, 4, 8, 10, 12, 13, 14]
    assert torch.equal(labels[12:], logits[12:].argmax(1))
    _, no_copies = _training_rows(cache, [0] * n, train_orig, use_augmented=False)
    assert no_copies.tolist() == [0, 2, 3, 12, 13, 14]
    _, no_transfer = _training_rows(cache, [0] * n, train_orig, use_augmented=True, use_transfer=False)
    assert no_transfer.tolist() == [0, 2, 3, 4, 5, 8, 9, 10, 11]
    _, gold_only = _training_rows(cache, [0] * n, train_orig, use_augmented=False, use_transfer=False)
    assert torch.equal(gold_only, train_orig)
