import torch

from fedrobust.distill.losses import OBJECTIVES, Objective, ObjectiveContext
from fedrobust.distill.teacher_training import teacher_outputs
from fedrobust.distill.trainer import WeightedObjective, cached_accuracy, drop_tokens, make_batch, train_student
from tests.models_helpers import LABELS, TEXTS, small_student, tiny_teacher, tokenizer


def test_make_batch_trims_shared_padding():
    cache = teacher_outputs(tiny_teacher(), tokenizer(), TEXTS + ["a much longer review that goes on and on and on"])
    labels = torch.tensor(LABELS + [1])
    batch = make_batch(cache, labels, torch.tensor([0, 1]))
    assert batch.input_ids.shape[1] == int(cache["attention_mask"][:2].sum(1).max())
    assert batch.input_ids.shape[1] < cache["input_ids"].shape[1]


def test_token_dropout_only_touches_real_non_special_tokens():
    cache = teacher_outputs(tiny_teacher(), tokenizer(), TEXTS)
    batch = make_batch(cache, torch.tensor(LABELS), torch.arange(len(TEXTS)))
    tok = tokenizer()
    dropped = drop_tokens(batch, 0.5, tok.unk_token_id, tok.special_token_ids(), torch.Generator().manual_seed(0))
    changed = dropped.input_ids != batch.input_ids
    assert changed.any()
    assert torch.all(dropped.input_ids[changed] == tok.unk_token_id)
    assert not torch.isin(batch.input_ids[changed], torch.tensor(tok.special_token_ids())).any()
    assert torch.equal(dropped.teacher_logits, batch.teacher_logits)


def test_training_learns_the_toy_task_and_keeps_the_best_epoch():
    teacher = tiny_teacher()
    cache = teacher_outputs(teacher, tokenizer(), TEXTS)
    labels = torch.tensor(LABELS)
    student = small_student("bigru_attention")
    tok = tokenizer()
    ctx = ObjectiveContext(2, student.feature_dim, 16, tok, tok.special_token_ids(), TEXTS, LABELS, cache["logits"])
    objectives = [WeightedObjective("ce", 1.0, OBJECTIVES.get("ce")(ctx))]
    every = torch.arange(len(TEXTS))
    history = train_student(student, objectives, cache, labels, every, every, epochs=12, batch_size=4, lr=0.02)
    assert len(history) == 12
    best = max(row["val_acc"] for row in history)
    assert cached_accuracy(student, cache, labels, every) == best >= 0.875


def test_keep_last_epoch_when_asked():
    cache = teacher_outputs(tiny_teacher(), tokenizer(), TEXTS)
    labels = torch.tensor(LABELS)
    tok = tokenizer()
    every = torch.arange(len(TEXTS))
    student = small_student("prado")
    ctx = ObjectiveContext(2, student.feature_dim, 16, tok, tok.special_token_ids(), TEXTS, LABELS, cache["logits"])
    objectives = [WeightedObjective("ce", 1.0, OBJECTIVES.get("ce")(ctx))]
    history = train_student(student, objectives, cache, labels, every, every, epochs=3, batch_size=4, lr=0.02,
                            keep_best_epoch=False)
    assert cached_accuracy(student, cache, labels, every) == history[-1]["val_acc"]


class CountingCE(Objective):
    """CE that records the epochs it was asked to prepare for."""

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.ce = OBJECTIVES.get("ce")(ctx)
        self.started: list[int] = []

    def on_epoch_start(self, student, epoch: int) -> None:
        self.started.append(epoch)

    def forward(self, student, batch, clean):
        return self.ce(student, batch, clean)


def test_an_objective_joins_at_its_start_epoch():
    cache = teacher_outputs(tiny_teacher(), tokenizer(), TEXTS)
    labels = torch.tensor(LABELS)
    tok = tokenizer()
    every = torch.arange(len(TEXTS))
    student = small_student("bigru_attention")
    ctx = ObjectiveContext(2, student.feature_dim, 16, tok, tok.special_token_ids(), TEXTS, LABELS, cache["logits"])
    late = CountingCE(ctx)
    objectives = [WeightedObjective("kd", 1.0, OBJECTIVES.get("kd")(ctx)), WeightedObjective("late", 1.0, late, 3)]
    history = train_student(student, objectives, cache, labels, every, every, epochs=4, batch_size=4, lr=0.02)
    assert [row["loss_late"] == 0.0 for row in history] == [True, True, False, False]
    assert all(row["loss_kd"] > 0.0 for row in history)
    assert late.started == [2, 3]
    # a later phase continues the epoch count: an objective already started is on from its first epoch
    late.started.clear()
    history = train_student(student, objectives, cache, labels, every, every, epochs=1, batch_size=4, lr=0.02,
                            epoch_offset=4)
    assert history[0]["loss_late"] > 0.0 and late.started == [0]
