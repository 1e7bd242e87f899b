"""The toy world's tokenizer: one token per character, and the trajectory markers (``<think>``, ``<wait>``, ...) as
single tokens that are never split into characters."""

from __future__ import annotations

import re

from .problems import NAMES

# Special tokens: each is one token of the tokenizer, never split into characters.
THINK, END_THINK, ANSWER, REFLECT, EOS, PAD, FILLER = "<think>", "</think>", "<ans>", "<wait>", "<eos>", "<pad>", "_"
SPECIAL_TOKENS = (PAD, EOS, THINK, END_THINK, ANSWER, REFLECT)
CHARS = "0123456789+-=:;,()_" + NAMES + "sum"
_TOKEN = re.compile("|".join(map(re.escape, SPECIAL_TOKENS)) + "|.", re.DOTALL)


def trajectory_tokens(trajectory: str) -> list[str]:
    """Returns the trajectory split into the tokenizer's tokens: a marker (e.g. ``<wait>``) or one character."""
    return _TOKEN.findall(trajectory)


def build_tokenizer():
    """Returns a character-level ``PreTrainedTokenizerFast`` with the trajectory markers as single tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in dict.fromkeys(CHARS):
        vocab.setdefault(ch, len(vocab))
    vocab["<unk>"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token="<unk>",
        additional_special_tokens=[THINK, END_THINK, ANSWER, REFLECT],
    )
    tok.padding_side = "left"  # generation pads prompts on the left
    return tok
