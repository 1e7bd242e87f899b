"""Figures of the study (seaborn/matplotlib), each saved as PNG next to the notebook's metrics."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "nbagg")) else None
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")


def save(fig, out: Path, name: str) -> Path:
    """Saves ``fig`` as ``out/name.png`` (tight, 130 dpi) and returns the path."""
    path = Path(out) / f"{name}.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    return path


def token_counts(df: pd.DataFrame):
    """Bar chart of mean tokens per sequence by trajectory style and family (``df``: style, family, tokens)."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.barplot(df, x="style", y="tokens", hue="family", ax=ax, errorbar=None)
    ax.set(xlabel="trajectory style", ylabel="tokens per training sequence", title="Length of each trajectory style")
    return fig


def heatmap(df: pd.DataFrame, index: str, columns: str, value: str, title: str, fmt: str = ".2f", ax=None):
    """Annotated heat map of ``value`` over ``index`` x ``columns`` (means over other columns)."""
    table = df.pivot_table(index=index, columns=columns, values=value, aggfunc="mean")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 * table.shape[1] + 2.5, 0.6 * table.shape[0] + 1.6))
    sns.heatmap(table, annot=True, fmt=fmt, cmap="viridis", vmin=0, vmax=1, ax=ax, cbar_kws={"label": value})
    ax.set_title(title)
    return fig or ax.figure


def metric_vs_length(df: pd.DataFrame, metrics: list[str], length: str = "mean_trajectory_tokens"):
    """Per arm: each metric against mean trajectory length, mean over seeds with a 95% CI (one panel each).

    ``df`` has one row per (arm, seed) with the metrics and the length column.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.3 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.pointplot(df, x=length, y=metric, hue="arm", native_scale=True, errorbar=("ci", 95), linestyles="",
                      markers="o", ax=ax, legend=ax is axes[0][-1])
        ax.set(xlabel="mean trajectory tokens (generated)", ylabel=metric, ylim=(-0.02, 1.02))
    if axes[0][-1].get_legend():
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def metric_by_difficulty(df: pd.DataFrame, metric: str, x: str = "k", hue: str = "arm", title: str = ""):
    """Line plot of ``metric`` against difficulty per arm, mean over seeds with a 95% CI band."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    sns.lineplot(df, x=x, y=metric, hue=hue, marker="o", errorbar=("ci", 95), ax=ax)
    ax.set(xlabel="operations per question (difficulty)", ylabel=metric, ylim=(-0.02, 1.02), title=title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1))
    return fig


def loss_curves(df: pd.DataFrame, title: str = "Training loss"):
    """Training loss against step per arm (``df``: arm, seed, step, loss), mean with a 95% band over seeds."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    sns.lineplot(df, x="step", y="loss", hue="arm", errorbar=("ci", 95), ax=ax)
    ax.set(yscale="log", xlabel="optimizer step", ylabel="SFT loss (completion tokens)", title=title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1))
    return fig
