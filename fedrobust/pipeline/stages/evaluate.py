"""Stage `evaluate`: natural accuracy and accuracy under attack on the public test split, per model,
and how well the student's token attributions agree with the teacher's (``evaluate.attribution``:
gradient x input by default, or integrated gradients, the same method for both)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fedrobust.data import FederatedDataset
from fedrobust.evaluation import (
    evaluate_threats,
    explanation_agreement,
    sample_indices,
    write_records_csv,
    write_summary_json,
)
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED, NATURAL_ACC
from fedrobust.models.io import load_model
from fedrobust.pipeline.config import RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext

# what the stage record (and so the run's summary.json) keeps of each model's attack summary
SUMMARY_KEYS = (N_ATTACKED, NATURAL_ACC, f"{NATURAL_ACC}_ci95", ADVERSARIAL_ACC, f"{ADVERSARIAL_ACC}_ci95",
                ATTACK_SUCCESS_RATE, f"{ATTACK_SUCCESS_RATE}_ci95", "mean_queries", "mean_perturbed_fraction",
                "examples_per_s")


def _file_safe(label: str) -> str:
    return label.replace(":", "-").replace("@", "_at_")


class EvaluateStage(Stage):
    name = "evaluate"
    depends = ("data", "teacher", "distill")

    def inputs(self, config: RunConfig) -> Any:
        inputs = {**dataclasses.asdict(config.evaluate), "seed": config.seed}
        # the attribution method at its default, or while agreement is off, changes no result: runs from
        # before the key existed keep their fingerprint
        if inputs["attribution"] == DEFAULT_ATTRIBUTION or not inputs["explanation_agreement"]:
            del inputs["attribution"]
        return inputs

    def describe(self, config: RunConfig) -> str:
        section = config.evaluate  # an AttackEvalConfig with the models to attack
        return f"{section.describe()} on {section.examples or 'all'} public test texts: {', '.join(section.models)}"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        section, seed = ctx.config.evaluate, ctx.config.seed
        public = FederatedDataset.load(ctx.output_of("data")).public()
        folders = {"student": ctx.output_of("distill")}
        if "teacher" in ctx.upstream:
            folders["teacher"] = ctx.upstream["teacher"]["model"]
        result: dict[str, Any] = {"output": str(ctx.dir), "threats": section.labels()}
        student_records = None
        for name in section.models:
            model, tokenizer = load_model(folders[name])
            threats = evaluate_threats(model, tokenizer, public.test_texts, public.test_labels, section, seed)
            result[name] = {}
            for label, (records, summary) in threats.items():
                write_records_csv((r.to_dict() for r in records), ctx.dir / f"{name}_{_file_safe(label)}_examples.csv")
                result[name][label] = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
                print(f"  {name}: natural {summary[NATURAL_ACC]:.3f}, under {label} {summary[ADVERSARIAL_ACC]:.3f} "
                      f"({summary[N_ATTACKED]} texts, {summary.get('examples_per_s', float('nan')):.1f} texts/s)",
                      flush=True)
            write_summary_json({label: summary for label, (_, summary) in threats.items()}, ctx.dir / f"{name}_summary.json")
            primary = result[name][section.labels()[0]] if threats else {}
            result[name].update({k: primary[k] for k in (NATURAL_ACC, ADVERSARIAL_ACC, N_ATTACKED) if k in primary})
            if name == "student" and threats:
                student_records = (model, tokenizer, next(iter(threats.values()))[0])
        if section.explanation_agreement and "teacher" in folders:
            result["explanation_agreement"] = self._agreement(ctx, folders, student_records)
        return result

    def _agreement(self, ctx: StageContext, folders: dict[str, str], student_records) -> dict[str, Any]:
        section, seed = ctx.config.evaluate, ctx.config.seed
        if student_records is not None:
            student, tokenizer, records = student_records
            texts, labels = [r.text for r in records], [r.label for r in records]
        else:  # the same seeded sample the attack would have run on
            student, tokenizer = load_model(folders["student"])
            public = FederatedDataset.load(ctx.output_of("data")).public()
            rows = sample_indices(len(public.test_texts), section.examples, seed)
            texts, labels = [public.test_texts[i] for i in rows], [public.test_labels[i] for i in rows]
        teacher, teacher_tokenizer = load_model(folders["teacher"])
        rows, agreement = explanation_agreement(student, teacher, tokenizer, texts, k=section.top_k, targets=labels,
                                                tokenizer_b=teacher_tokenizer, seed=seed, attribution=section.attribution)
        write_records_csv(rows, ctx.dir / "explanation_agreement.csv")
        print(f"  explanation agreement with the teacher ({section.attribution}): " + ", ".join(
            f"{k} {v:.3f}" for k, v in agreement.items() if isinstance(v, float)), flush=True)
        return agreement
