"""The teacher's cached attributions by integrated gradients: what the attribution-alignment objective
and GradMASK read when `teacher.attribution: integrated_gradients`."""

import json

import pytest
import torch

from fedrobust.distill.teacher_artifacts import cache_attribution
from fedrobust.distill.teacher_pipeline import TeacherConfig, attribution_meta
from fedrobust.distill.teacher_training import teacher_outputs
from fedrobust.errors import ConfigError
from fedrobust.evaluation.attributions import integrated_gradients
from tests.models_helpers import TEXTS, tiny_teacher, tokenizer


@pytest.fixture(scope="module")
def caches():
    teacher, tok = tiny_teacher(), tokenizer()
    gxi = teacher_outputs(teacher, tok, TEXTS)
    ig = teacher_outputs(teacher, tok, TEXTS, attribution="integrated_gradients", attribution_steps=16)
    return teacher, tok, gxi, ig


def test_the_cached_scores_are_the_evaluation_layers_integrated_gradients(caches):
    teacher, tok, _, ig = caches
    reference = integrated_gradients(teacher, tok, TEXTS, steps=16)
    for row, scores in enumerate(reference.scores):
        kept = ig["attention_mask"][row].bool()
        assert torch.allclose(ig["attributions"][row][kept], scores, atol=1e-5)
        assert torch.all(ig["attributions"][row][~kept] == 0)
    assert reference.targets == ig["logits"].argmax(1).tolist()  # explained: the teacher's prediction


def test_only_the_attributions_and_what_they_mask_differ_from_gradient_x_input(caches):
    _, _, gxi, ig = caches
    assert torch.allclose(gxi["logits"], ig["logits"], atol=1e-5)
    assert torch.equal(gxi["features"], ig["features"]) and torch.equal(gxi["input_ids"], ig["input_ids"])
    assert not torch.allclose(gxi["attributions"], ig["attributions"], atol=1e-3)


def test_a_cache_records_its_method_and_older_caches_read_as_gradient_x_input(tmp_path):
    assert cache_attribution(tmp_path) == "grad_x_input"
    (tmp_path / "cache.json").write_text(json.dumps(attribution_meta(TeacherConfig(attribution="integrated_gradients",
                                                                                   attribution_steps=8))))
    assert cache_attribution(tmp_path) == "integrated_gradients"
    assert attribution_meta(TeacherConfig()) == {"attribution": "grad_x_input"}


def test_an_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="teacher.attribution: unknown attribution 'saliency'"):
        TeacherConfig(attribution="saliency").validate("teacher")
    with pytest.raises(ConfigError, match="attribution_steps"):
        TeacherConfig(attribution="integrated_gradients", attribution_steps=0).validate("teacher")
