"""raml_utils: the helper package of the RaML study (reasoning as meta-learning, arXiv 2505.19815)."""
