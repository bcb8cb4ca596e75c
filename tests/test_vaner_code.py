"""The vaner_code study: VANER's released training recipe beside the paper's (vaner).

That it plans in Snakemake is checked with every shipped study (test_workflow.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from nerbench.hparams import TrainingArgs, check_hparams
from nerbench.io import InputError
from nerbench.methods.adapters import lora_target_modules
from nerbench.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
# Where the released script (unllama_train_vaner.py) differs from the paper: these hparams only.
RECIPE = {
    "learning_rate": 1e-4,
    "batch_size": 4,
    "scheduler": "linear",
    "weight_decay": 0.01,
    "lora_r": 12,
    "lora_targets": "q_proj,v_proj",
    "quantization": "none",
}


def _plan(study: str):
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as f:
        return load_plan({**yaml.safe_load(f), "study": study}, ROOT)


def _key(plan, run_id: str) -> tuple:
    s = plan.runs[run_id]
    return (
        plan.run_groups[run_id],
        s["model"]["id"],
        tuple(s["train_datasets"]),
        s["seed"],
        s["dbr"],
    )


def test_run_ids_differ_from_vaner_only_where_the_recipe_differs():
    paper, code = _plan("vaner"), _plan("vaner_code")
    by_key = {_key(paper, r): r for r in paper.runs}
    assert len(by_key) == len(paper.runs) == len(code.runs)
    llm_runs = 0
    for run_id, s in code.runs.items():
        twin = by_key[_key(code, run_id)]  # every code run has its paper run, and vice versa
        t = paper.runs[twin]
        assert {k: v for k, v in s.items() if k != "hparams"} == {
            k: v for k, v in t.items() if k != "hparams"
        }
        assert code.eval_sets[run_id] == paper.eval_sets[twin]
        changed = {
            k
            for k in set(s["hparams"]) | set(t["hparams"])
            if s["hparams"].get(k) != t["hparams"].get(k)
        }
        if s["model"]["family"] == "decoder":
            llm_runs += 1
            assert changed == set(RECIPE), run_id
            assert {k: s["hparams"][k] for k in RECIPE} == RECIPE
            assert run_id != twin
        else:  # the encoder baselines are the very same runs
            assert changed == set() and run_id == twin
    assert llm_runs == 82  # VANER 9 + VANER_single 72 + VANER_adapt 1
    # the rest of the study (DBR settings, datasets, outputs, resources) is the same
    skip = ("description", "runs")
    assert {k: v for k, v in code.study.items() if k not in skip} == {
        k: v for k, v in paper.study.items() if k not in skip
    }


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.v_proj, self.o_proj = (torch.nn.Linear(2, 2) for _ in range(3))
        self.score = torch.nn.Linear(2, 3)


def test_lora_targets_choose_the_adapted_layers():
    model = _Tiny()
    assert lora_target_modules(None, model, ("score",)) == ["o_proj", "q_proj", "v_proj"]
    assert lora_target_modules("q_proj,v_proj", model, ("score",)) == ["q_proj", "v_proj"]
    with pytest.raises(InputError, match="lora_targets.*k_proj"):
        lora_target_modules("q_proj,k_proj", model, ("score",))


def test_lora_targets_hparam_is_checked_and_spares_earlier_fingerprints():
    # at its default the new field is not part of what a resume compares: no checkpoint of a run
    # made before it existed is discarded
    assert "lora_targets" not in TrainingArgs.from_hparams({"lora_r": 12}).result_defining()
    args = check_hparams({"lora_targets": "q_proj,v_proj"}, "test")
    assert args.result_defining()["lora_targets"] == "q_proj,v_proj"
    with pytest.raises(InputError, match="lora_targets"):
        check_hparams({"lora_targets": "q_proj v_proj"}, "test")


def test_labeler_adapts_only_the_named_layers(tmp_path):
    from decoder_fixtures import local_decoder_source, save_tiny_decoder
    from nerbench.methods.base import get_method

    path = save_tiny_decoder(tmp_path / "llama", "llama", tokenizer_kind="sp")
    src = local_decoder_source(path, "tiny-llama", max_length=32)
    method = get_method("labeler")
    args = TrainingArgs.from_hparams({"lora_r": 4, "lora_targets": "q_proj,v_proj"})
    bundle = method.load_for_training(
        src, method.label_list(["Disease"]), args, torch.device("cpu")
    )
    adapted = {
        n.split(".lora_A")[0].rsplit(".", 1)[-1]
        for n, _ in bundle.model.named_parameters()
        if ".lora_A" in n
    }
    assert adapted == {"q_proj", "v_proj"}
