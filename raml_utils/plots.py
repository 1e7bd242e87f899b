"""Figures of the study (seaborn/matplotlib), each saved as PNG next to the notebook's metrics."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "nbagg")) else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .stats import bootstrap_mean

sns.set_theme(style="whitegrid", context="notebook")


def save(fig, out: Path, name: str) -> None:
    """Saves ``fig`` as ``out/name.png`` (tight, 130 dpi); in a notebook the figure is then shown once, below."""
    fig.savefig(Path(out) / f"{name}.png", dpi=130, bbox_inches="tight")


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


def metric_vs_length(df: pd.DataFrame, metrics: list[str], length: str = "mean_trajectory_tokens", order=None):
    """Per arm: each metric against mean generated trajectory length; mean over seeds with 95% bootstrap intervals
    over seeds (both axes; inside the metric's range), and each seed as a faint dot. ``df`` has one row per (arm,
    seed); ``order`` fixes the colours."""
    def mean_ci(values):
        return bootstrap_mean(values.to_numpy()[:, None])  # (seeds, 1): the spread over seeds

    order = list(order or dict.fromkeys(df.arm))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.3 * len(metrics), 3.8), squeeze=False)
    palette = dict(zip(order, sns.color_palette(n_colors=len(order))))
    for ax, metric in zip(axes[0], metrics):
        for arm in order:
            group = df[df.arm == arm]
            (x, xlo, xhi), (y, ylo, yhi) = mean_ci(group[length]), mean_ci(group[metric])
            ax.scatter(group[length], group[metric], color=palette[arm], alpha=0.3, s=14)
            xerr = [[x - xlo], [xhi - x]] if len(group) > 1 else None
            yerr = [[y - ylo], [yhi - y]] if len(group) > 1 else None
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=palette[arm], capsize=3, label=arm)
        ax.set(xlabel="mean trajectory tokens (generated)", ylabel=metric, ylim=(-0.02, 1.02))
    axes[0][-1].legend(title="arm", loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def metric_by_difficulty(df: pd.DataFrame, metric: str, x: str = "k", hue: str = "arm", title: str = "", order=None,
                         bounds: tuple[float | None, float | None] = (None, None), rungs=()):
    """Line plot of ``metric`` against difficulty (the ladder) per arm: the mean over seeds and questions with a 95%
    bootstrap band over those rows; ``order`` fixes the colours (as in ``metric_vs_length``). ``bounds`` (chance,
    ceiling) are drawn as dashed lines, and the ``rungs`` a verdict reads are shaded: a contrast can only move
    where its arms sit between the two lines."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for level in rungs:
        ax.axvspan(level - 0.4, level + 0.4, color="0.9", zorder=0, label="rungs" if level == rungs[0] else None)
    for value, name in zip(bounds, ("chance", "ceiling")):
        if value is not None:
            ax.axhline(value, color="0.35", ls="--", lw=1, zorder=1)
            ax.text(1.0, value, f" {name}", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="0.35")
    sns.lineplot(df, x=x, y=metric, hue=hue, hue_order=order, marker="o", errorbar=("ci", 95), ax=ax)
    ax.set(xlabel="operations per question (the difficulty ladder)", ylabel=metric, ylim=(-0.02, 1.04), title=title)
    ax.set_xticks(sorted(df[x].unique()))
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.1, 1))
    return fig


def loss_curves(df: pd.DataFrame, title: str = "Training loss"):
    """Training loss against step per arm (``df``: arm, seed, step, loss), mean with a 95% band over seeds."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    sns.lineplot(df, x="step", y="loss", hue="arm", errorbar=("ci", 95), ax=ax)
    ax.set(yscale="log", xlabel="optimizer step", ylabel="SFT loss (completion tokens)", title=title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1))
    return fig


def metric_vs_support(df: pd.DataFrame, metrics: list[str]):
    """Each metric against support-set size per method: mean over seeds with a 95% CI, every seed as a dot.

    ``df`` has one row per (method, support, seed) with the metric columns; x is on a log2 scale.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.3 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(df, x="support", y=metric, hue="method", marker="o", errorbar=("ci", 95), ax=ax,
                     legend=ax is axes[0][-1])
        sns.scatterplot(df, x="support", y=metric, hue="method", alpha=0.35, s=18, legend=False, ax=ax)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="support-set size (trajectories per question)", ylabel=metric, ylim=(-0.02, 1.02))
    if axes[0][-1].get_legend():
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


# --- notebook 01: pseudo-gradient -------------------------------------------------------------------


def inner_loop_curves(frame: pd.DataFrame, title: str, ax=None):
    """L-hat against normalised trajectory position per arm: mean and 95% band over trajectories.

    ``frame`` has one row per trajectory with ``arm`` and ``curve`` (values on an even grid of [0, 1]).
    """
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm, g in frame.groupby("arm", sort=False):
        curves = np.array(g["curve"].tolist())  # (trajectories, points)
        x = np.linspace(0, 1, curves.shape[1])
        mean = curves.mean(0)
        half = 1.96 * curves.std(0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(mean)
        line, = ax.plot(x, mean, label=f"{arm} (n={len(curves)})")
        ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="position in the trajectory (0 = no trajectory, 1 = all of it)",
           ylabel="L-hat: answer NLL (nats)", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    return fig or ax.figure


def digit_curves(frame: pd.DataFrame, title: str):
    """One panel per kind of trajectory (``column``, ``op_by_op``): each answer digit's loss against position, mean and
    95% band over trajectories, with a dashed line where the digit is first written (mean position). ``frame``: one
    row per trajectory with ``kind``, ``tens_curve``, ``units_curve`` (on an even grid of [0, 1]) and
    ``tens_written_at`` / ``units_written_at`` (fractions of the trajectory)."""
    kinds = list(dict.fromkeys(frame.kind))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 3.8), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        g = frame[frame.kind == kind]
        for digit, colour in (("tens", "tab:blue"), ("units", "tab:orange")):
            curves = np.array(g[f"{digit}_curve"].tolist())  # (trajectories, points)
            x = np.linspace(0, 1, curves.shape[1])
            mean = curves.mean(0)
            half = 1.96 * curves.std(0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else 0 * mean
            ax.plot(x, mean, color=colour, label=f"{digit} digit")
            ax.fill_between(x, mean - half, mean + half, color=colour, alpha=0.2)
            ax.axvline(g[f"{digit}_written_at"].mean(), color=colour, ls="--", lw=1)
        ax.set(title=f"{kind} (n={len(g)})", xlabel="")
    axes[0][0].set_ylabel("loss of one answer digit (nats)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.supxlabel("position in the trajectory (0 = none of it, 1 = all of it); dashed: where the digit is first written")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_surface(plane, title: str, xlabel: str, ylabel: str, path=None, path_labels=None, ax=None):
    """Contour map of ``plane.loss``; ``path`` (m, 2) is drawn on it as numbered points joined by arrows."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.4))
    cs = ax.contourf(plane.alphas, plane.betas, plane.loss, levels=20, cmap="viridis")
    fig_ = fig or ax.figure
    fig_.colorbar(cs, ax=ax, label="answer loss without trajectory (nats)")
    if path is not None:
        ax.plot(path[:, 0], path[:, 1], "-o", color="white", ms=4, lw=1.2)
        ax.plot(*path[0], "o", color="red", ms=7, label="no trajectory")
        ax.plot(*path[-1], "*", color="orange", ms=12, label="full trajectory")
        for i, (x, y) in enumerate(path):
            ax.annotate(str(path_labels[i] if path_labels is not None else i), (x, y), color="white", fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.legend(loc="lower left", fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig_


def path_losses(frame: pd.DataFrame):
    """Answer loss along fitted displacement paths vs L-hat of the model reading the same prefix.

    ``frame``: one row per (seed, question, point) with ``position`` (0..1), ``answer_loss`` and ``target_lhat``.
    """
    fig, ax = plt.subplots(figsize=(6, 3.8))
    long = frame.melt(id_vars=["position"], value_vars=["target_lhat", "answer_loss"], var_name="quantity",
                      value_name="nats").replace({"target_lhat": "L-hat with prefix (target)",
                                                  "answer_loss": "loss at fitted displacement, no prefix"})
    sns.lineplot(long, x="position", y="nats", hue="quantity", marker="o", errorbar=("ci", 95), ax=ax)
    ax.set(xlabel="position in the trajectory (step ends)", ylabel="answer NLL (nats)",
           title="Answer loss along the displacement path")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1))
    return fig


def proposition_errors(frame: pd.DataFrame, d: int):
    """Relative logit error of each Prop 2.1 construction against context length n (log scale), per setting."""
    cols = {"value_rel_error": "W_v construction (softmax)", "linear_rel_error": "linear-attention W_v update",
            "softmax_only_attn_rel_bound": "W_q/W_k only: lower bound"}
    long = frame.melt(id_vars=["setting", "n"], value_vars=list(cols), var_name="construction",
                      value_name="relative error").replace(cols)
    long["relative error"] = long["relative error"].clip(lower=1e-17)
    g = sns.relplot(long, x="n", y="relative error", hue="construction", col="setting", kind="line", marker="o",
                    estimator="median", errorbar=("pi", 50), height=3.6, aspect=1.1)
    for ax in g.axes.flat:
        ax.set(xscale="log", yscale="log", xlabel="context length n")
        ax.axvline(d, color="grey", ls="--", lw=1)
    g.figure.suptitle(f"Error of each construction relative to the token's effect (median, IQR); dashed: n = d = {d}",
                      y=1.04)
    return g.figure


def update_alignment(frame: pd.DataFrame):
    """Histogram of cos(Delta W_v, -grad L) per setting: does the token's implicit update point downhill?"""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.histplot(frame, x="cosine", hue="setting", bins=30, stat="density", common_norm=False, element="step", ax=ax)
    ax.axvline(0, color="grey", lw=1)
    ax.set(xlabel="cosine(effective update of W_v, -gradient of the answer loss)", title="Implicit update vs gradient")
    return fig


# --- notebooks 05 and 06: RL arms, generalisation ---------------------------------------------------


def curves_by_arm(df: pd.DataFrame, columns: dict[str, str], title: str, order=None, hue: str = "arm"):
    """One panel per entry of ``columns`` (column -> axis label): its mean over seeds against step per ``hue``
    value (an arm), with a 95% band over seeds. ``df`` has one row per (arm, seed, step); ``order`` fixes the
    colours. Panels wrap after four per row."""
    ncols = min(4, len(columns))
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    panels = axes.ravel()
    for ax, (col, label) in zip(panels, columns.items()):
        sns.lineplot(df, x="step", y=col, hue=hue, hue_order=order, errorbar=("ci", 95), ax=ax,
                     legend=ax is panels[ncols - 1])
        ax.set(xlabel="optimizer step", ylabel=label)
    for ax in panels[len(columns):]:
        ax.set_visible(False)
    sns.move_legend(panels[ncols - 1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def heatmap_ci(mean: pd.DataFrame, lo: pd.DataFrame, hi: pd.DataFrame, title: str, label: str, center=None, ax=None):
    """Heat map of ``mean`` (rows x columns), each cell annotated with its value and its 95% CI [lo, hi] (value only
    where the CI is undefined). ``center`` (e.g. 0 for differences) gives a diverging palette centred there;
    otherwise the scale is 0..1."""
    labels = np.empty(mean.shape, dtype=object)
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            m, l, h = mean.iat[i, j], lo.iat[i, j], hi.iat[i, j]
            sign = "+" if center is not None else ""
            labels[i, j] = "" if np.isnan(m) else (f"{m:{sign}.2f}" if np.isnan(l) else
                                                   f"{m:{sign}.2f}\n[{l:{sign}.2f}, {h:{sign}.2f}]")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.9 * mean.shape[1] + 2.5, 0.62 * mean.shape[0] + 1.6))
    if center is None:
        scale = dict(cmap="viridis", vmin=0, vmax=1)
    else:  # symmetric around the centre, never narrower than +-0.05 (an all-zero table stays neutral)
        span = max(float(np.nanmax(np.abs(np.asarray(mean, dtype=float) - center))), 0.05)
        scale = dict(cmap="vlag", center=center, vmin=center - span, vmax=center + span)
    sns.heatmap(mean.astype(float), annot=labels, fmt="", annot_kws={"fontsize": 8}, ax=ax, cbar_kws={"label": label},
                **scale)
    ax.set(title=title, xlabel="", ylabel="")
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    return fig or ax.figure


# --- notebook 04: reflection tokens and the delimiter -----------------------------------------------


def relative_change_by_class(tokens: pd.DataFrame, title: str, ax=None):
    """Box plot of the relative change of L-hat per token class (log scale), all tokens first; means as diamonds.

    ``tokens``: one row per token with ``token_class`` and ``relative_change``; undefined (NaN) changes are left
    out, and changes below 1e-6 are drawn at 1e-6 (a log axis has no 0). The means are of the unclipped values.
    """
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
    defined = tokens.dropna(subset=["relative_change"])
    long = pd.concat([defined.assign(group="all tokens"), defined.assign(group=defined.token_class)])
    order = ["all tokens"] + [c for c in ("reflection", "marker", "other") if c in set(defined.token_class)]
    long["shown"] = long.relative_change.clip(lower=1e-6)
    sns.boxplot(long, x="group", y="shown", order=order, log_scale=True, showfliers=False, color="0.85", ax=ax)
    sns.stripplot(long, x="group", y="shown", order=order, size=2.5, alpha=0.35, jitter=0.25, ax=ax)
    means = long.groupby("group").relative_change.mean().reindex(order)
    ax.scatter(np.arange(len(order)), means.clip(lower=1e-6), marker="D", color="crimson", zorder=5, label="mean")
    counts = long.groupby("group").size().reindex(order)
    ax.set_xticks(np.arange(len(order)), [f"{g}\n(n={counts[g]})" for g in order])
    ax.set(xlabel="", ylabel="|L_i - L_(i-1)| / L_(i-1)", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    return fig or ax.figure


def curve_with_tokens(curve, tokens: list[str], classes: list[str], relative: list[float], title: str):
    """One trajectory token by token: L-hat after each prefix (top) and the relative change each token makes
    (bottom, log scale), every token's text on the x axis, reflection tokens marked in red."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 0.12 * len(tokens)), 5), sharex=True)
    x = np.arange(len(tokens))
    top.plot(np.arange(-1, len(tokens)), curve, "-o", ms=2.5, lw=1)  # L_0 (no token read) sits at x = -1
    top.set(ylabel="L-hat (nats)", title=title)
    colours = {"reflection": "crimson", "marker": "tab:orange", "other": "tab:blue"}
    shown = np.clip(np.nan_to_num(np.asarray(relative, dtype=float), nan=1e-6), 1e-6, None)
    bottom.bar(x, shown, color=[colours[c] for c in classes], width=0.8)
    bottom.set(yscale="log", ylabel="relative change")
    for ax in (top, bottom):
        for i in np.flatnonzero(np.array(classes) == "reflection"):
            ax.axvline(i, color="crimson", lw=1, ls="--")
    labels = [t.replace("\n", "\\n") for t in tokens]
    bottom.set_xticks(x, labels, rotation=90, fontsize=6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    bottom.legend(handles, list(colours), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    return fig


# --- notebook 99: the claims scoreboard ---------------------------------------------------------------


def claim_intervals(records: list[dict], colours: dict[str, str]):
    """One panel per scoreboard line: the contrast's effect and 95% CI on its own axis, the margin ±δ shaded.

    ``records`` (from ``scoreboard.interval_records``) have ``label`` and ``verdict``, and, where measured,
    ``metric``, ``effect``, ``lo``, ``hi``, ``margin`` and ``direction`` (+1: the paper expects a > b). Lines
    without a measurement show their verdict as text. Each panel keeps its metric's units.
    """
    fig, axes = plt.subplots(len(records), 1, figsize=(9, 0.62 * len(records) + 0.9), squeeze=False)
    for ax, r in zip(axes[:, 0], records):
        colour = colours.get(r["verdict"], "black")
        ax.set_yticks([])
        ax.set_ylabel(r["label"], rotation=0, ha="right", va="center", fontsize=9)
        ax.grid(False)
        if r.get("effect") is None or any(math.isnan(r[k]) for k in ("lo", "hi")):
            ax.set_xticks([])
            ax.text(0.5, 0.5, r["verdict"] + (f": {r['detail']}" if r.get("detail") else ""), ha="center",
                    va="center", color=colour, fontsize=9, transform=ax.transAxes)
            continue
        span = max(abs(r["lo"]), abs(r["hi"]), r["margin"]) * 1.3
        ax.set_xlim(-span, span)
        ax.axvspan(-r["margin"], r["margin"], color="0.88", zorder=0)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.errorbar([r["effect"]], [0], xerr=[[r["effect"] - r["lo"]], [r["hi"] - r["effect"]]], fmt="o",
                    color=colour, capsize=4, lw=2)
        arrow = "→" if r["direction"] > 0 else "←"
        ax.text(1.01, 0.5, f"{r['verdict']}\n{r['metric']}, paper {arrow}", transform=ax.transAxes, va="center",
                fontsize=8, color=colour)
        ax.tick_params(axis="x", labelsize=8, pad=1)
    axes[0, 0].set_title("Primary contrasts a − b with 95% CI (grey: the pre-registered margin ±δ)", fontsize=10)
    fig.tight_layout(h_pad=0.3)
    return fig
