"""Pictures a person would rather look at than read: curves and attention."""

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def plot_training_curves(history, path):
    """Loss (and accuracy) per epoch, training and validation, to a PNG.

    Args:
        history: a dict name -> list of per-epoch values (`History.history`).
        path: the PNG file to write.
    """
    panels = [name for name in ("loss", "accuracy") if name in history]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    axes = np.atleast_1d(axes)
    for axis, name in zip(axes, panels, strict=True):
        epochs = np.arange(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label="training")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_attention(examples, path):
    """Attention heatmaps, one panel per example, to a PNG.

    Args:
        examples: list of dicts with `"source_tokens"` (list of S strings),
            `"output_tokens"` (list of T strings) and `"weights"` `(T, S)`.
        path: the PNG file to write.
    """
    figure, axes = plt.subplots(
        len(examples), 1, figsize=(11, 2.2 + 2.6 * len(examples)), squeeze=False
    )
    for axis, example in zip(axes[:, 0], examples, strict=True):
        weights = np.asarray(example["weights"])
        axis.imshow(
            weights,
            cmap="viridis",
            aspect="auto",
            vmin=0.0,
            vmax=max(weights.max(), 1e-6),
        )
        axis.set_xticks(range(len(example["source_tokens"])))
        axis.set_xticklabels(example["source_tokens"], rotation=90, fontsize=7)
        axis.set_yticks(range(len(example["output_tokens"])))
        axis.set_yticklabels(example["output_tokens"], fontsize=8)
        axis.set_xlabel("source (attended to)")
        axis.set_ylabel("output")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
