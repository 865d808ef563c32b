import json

import pytest
import torch
from safetensors.torch import load_file

from fedrobust.distill.compression import factorize
from fedrobust.errors import DataError
from fedrobust.models import WordPieceTokenizer, load_model, save_model
from tests.models_helpers import SMALL_CONFIGS, TEXTS, encode, small_student, tiny_teacher, tokenizer


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_student_round_trip(tmp_path, name):
    student = small_student(name).eval()
    save_model(student, tokenizer(), tmp_path)
    loaded, tok = load_model(tmp_path)
    ids, mask = encode()
    torch.testing.assert_close(loaded(ids, mask), student(ids, mask))
    assert tok.max_length == tokenizer().max_length
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["name"] == name
    # plain safetensors: loadable without pickle
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(student.state_dict())


def test_low_rank_student_round_trip(tmp_path):
    student = small_student("bigru_attention").eval()
    plan = factorize(student, 0.25)
    assert plan  # something was factorized
    save_model(student, tokenizer(), tmp_path)
    loaded, _ = load_model(tmp_path)
    ids, mask = encode()
    torch.testing.assert_close(loaded(ids, mask), student(ids, mask))


def test_int8_round_trip_is_smaller_and_close(tmp_path):
    student = small_student("bigru_attention", embedding={"kind": "pruned", "dim": 16, "num_embeddings": 4000}).eval()
    save_model(student, tokenizer(), tmp_path / "fp32")
    save_model(student, tokenizer(), tmp_path / "int8", weights="int8")
    fp32_bytes = (tmp_path / "fp32" / "model.safetensors").stat().st_size
    int8_bytes = (tmp_path / "int8" / "model.int8.safetensors").stat().st_size
    assert int8_bytes < 0.5 * fp32_bytes
    loaded, _ = load_model(tmp_path / "int8")
    ids, mask = encode()
    torch.testing.assert_close(loaded(ids, mask), student(ids, mask), atol=0.05, rtol=0.05)
    assert loaded.embedding.id_map.dtype == torch.int32
    assert torch.equal(loaded.embedding.id_map, student.embedding.id_map)


def test_teacher_round_trip(tmp_path):
    teacher = tiny_teacher().eval()
    save_model(teacher, tokenizer(), tmp_path)
    loaded, _ = load_model(tmp_path)
    ids, mask = encode()
    torch.testing.assert_close(loaded(ids, mask), teacher(ids, mask))
    out = loaded.classify_embeddings(loaded.embed(ids), mask)
    assert out.features.shape == (len(TEXTS), 16)


def test_tokenizer_contract_and_round_trip(tmp_path):
    tok = WordPieceTokenizer.from_pretrained(max_length=6)
    enc = tok(["short", "a much longer sentence that will be truncated"])
    assert enc["input_ids"].dtype == torch.long and enc["input_ids"].shape == (2, 6)
    assert enc["attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0]
    assert tok.convert_ids_to_tokens(enc["input_ids"][0])[:3] == ["[CLS]", "short", "[SEP]"]
    tok.save(tmp_path)
    again = WordPieceTokenizer.load(tmp_path)
    assert again.max_length == 6 and torch.equal(again(["short"])["input_ids"], tok(["short"])["input_ids"])


def test_load_model_on_a_plain_folder_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="model.json"):
        load_model(tmp_path)
