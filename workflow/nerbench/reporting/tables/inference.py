"""Inference cost of LLMs relative to encoders (paper 000)."""

from __future__ import annotations

from nerbench.io import InputError
from nerbench.reporting.render import Table, _finite, fmt
from nerbench.reporting.tables.common import prepared, summary_for


def inference_ratio(df, ref) -> Table:
    """LLM / encoder inference-time ratio per dataset (sentences per second, model time only)."""
    import pandas as pd

    df = prepared(df)
    values = ["infer_sent_per_s", "infer_tok_per_s", "exact_f1"]
    summary = summary_for(df, ["dataset"], values)
    fams = set(summary["family"])
    if not {"encoder", "decoder"} <= fams:
        raise InputError(
            f"inference_ratio needs runs of both families (encoder, decoder); "
            f"metrics.tsv has only: {sorted(fams)}"
        )
    low = high = None
    if ref is not None and "claim" in ref.columns:
        claim = ref[ref["claim"] == "llm_over_encoder"]
        if len(claim):
            low, high = float(claim.iloc[0]["low"]), float(claim.iloc[0]["high"])
    rows = []
    for ds, sub in summary.groupby("dataset", sort=True):
        for llm in sub[sub["family"] == "decoder"].itertuples():
            for enc in sub[sub["family"] == "encoder"].itertuples():
                ratio = enc.infer_sent_per_s_mean / llm.infer_sent_per_s_mean
                tok_ratio = enc.infer_tok_per_s_mean / llm.infer_tok_per_s_mean
                rows.append(
                    {
                        "dataset": ds,
                        "llm": llm.system,
                        "encoder": enc.system,
                        "llm_sent_per_s": llm.infer_sent_per_s_mean,
                        "encoder_sent_per_s": enc.infer_sent_per_s_mean,
                        "time_ratio": ratio,
                        "token_time_ratio": tok_ratio,
                        "llm_f1": llm.exact_f1_mean,
                        "encoder_f1": enc.exact_f1_mean,
                        "paper_low": low,
                        "paper_high": high,
                    }
                )
    data = pd.DataFrame(rows)
    display = pd.DataFrame(
        {
            "Dataset": data["dataset"],
            "LLM": data["llm"],
            "Encoder": data["encoder"],
            "LLM sent/s": [fmt(v, digits=1) for v in data["llm_sent_per_s"]],
            "Encoder sent/s": [fmt(v, digits=1) for v in data["encoder_sent_per_s"]],
            "Time ratio (×)": [fmt(v, digits=1) for v in data["time_ratio"]],
            "ΔF1 (LLM − enc.)": [
                fmt(a - b, signed=True)
                for a, b in zip(data["llm_f1"], data["encoder_f1"], strict=True)
            ],
        }
    )
    notes = ["Time ratio = encoder sentences/s ÷ LLM sentences/s (model time only)."]
    if low is not None:
        notes.append(f"Paper 000 (abstract only): LLMs {low:g}–{high:g}× more expensive.")
        display["In paper range"] = [
            "yes" if _finite(r) and low <= r <= high else "no" for r in data["time_ratio"]
        ]
    caption = "Inference cost of LLMs relative to encoders (time per sentence ratio)."
    return Table("inference_ratio", caption, data, display, notes=notes)
