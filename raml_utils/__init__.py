"""raml_utils: the helper package of the RaML study (reasoning as meta-learning, arXiv 2505.19815)."""

import warnings

# transformers and datasets import tqdm.auto, which warns in a notebook kernel without ipywidgets; the study's own bars
# are plain text (readable in saved notebooks), so the warning at the top of every executed notebook says nothing.
warnings.filterwarnings("ignore", message="IProgress not found")
