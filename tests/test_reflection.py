"""Notebook 04's machinery: reflection rendering, the relative change of L-hat, delimiter-free formats, the arms."""

import random

import numpy as np
import pandas as pd
import pytest

from raml_utils import experiment, probe, reflection
from raml_utils.models import ModelConfig, build_model
from raml_utils.params import EvalParams, load_profile
from raml_utils.worlds import ToyWorld, toy


@pytest.fixture(scope="module")
def tokenizer():
    return toy.build_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, 5).eval()


def test_relative_change_on_a_known_curve():
    rel = reflection.relative_changes([2.0, 1.0, 1.5, 0.0, 3.0], min_lhat=1e-4)
    assert rel[:3] == pytest.approx([0.5, 0.5, 1.0])
    assert np.isnan(rel[3])  # L = 0 before the last token: the ratio is undefined, not infinite
    assert len(rel) == 4
    # The floor is a floor on the value *before* the token, not after it.
    assert reflection.relative_changes([1e-5, 1.0], min_lhat=1e-4)[0] != reflection.relative_changes([1e-5, 1.0], 1e-6)[0]


def test_reflection_token_sits_between_the_wrong_step_and_its_correction(tokenizer):
    rng = random.Random(0)
    for p in toy.make_problems(12, "test", seed=3, families=toy.FAMILIES, levels=(2, 3, 4)):
        spec = reflection.reflection_spec(ToyWorld(), p, rng)
        rendered = toy.render(p, spec)
        item = probe.rendered_probe_input(tokenizer, rendered)
        tokens = tokenizer.convert_ids_to_tokens(list(item.trajectory))
        at = reflection.reflection_positions(tokens)
        assert len(at) == 1 and tokens[at[0] - 1] == ";"  # right after the wrong step ends
        text = rendered.trajectory
        wrong_step = text[:text.index(toy.REFLECT)].split(";")[-2] + ";"
        # Without the wrong step and <wait>, what is left is the ordinary long trajectory.
        assert text.replace(wrong_step + toy.REFLECT, "", 1) == toy.render(p).trajectory
        corrected = text[text.index(toy.REFLECT) + len(toy.REFLECT):].split(";")[0] + ";"
        assert corrected != wrong_step and corrected.count("=") == wrong_step.count("=")  # one operand misread


def test_token_classes_in_both_worlds():
    assert reflection.token_class(toy.REFLECT, True, reflection.TOY_MARKERS) == "reflection"
    assert [reflection.token_class(t, False, reflection.TOY_MARKERS) for t in (";", "=", "7", "+", "a")] == \
        ["marker", "marker", "other", "other", "other"]
    assert [reflection.token_class(t, False, reflection.LLM_MARKERS) for t in ("\n", ".", " Wait", " 12", ".\n")] == \
        ["marker", "marker", "other", "other", "marker"]


def test_delimiter_free_rendering_parses_only_in_its_own_format(tokenizer):
    for p in toy.make_problems(6, "test", seed=5):
        without = toy.render(p, toy.TrajectorySpec("long", delimiter=False))
        assert toy.END_THINK not in without.completion
        assert toy.parse_completion(without.completion, delimiter=False) == p.answer
        assert toy.parse_completion(without.completion, delimiter=True) is None
        assert toy.parse_completion(toy.render(p).completion, delimiter=False) is None
        item = probe.rendered_probe_input(tokenizer, without)
        assert tokenizer.convert_ids_to_tokens(list(item.suffix)) == [toy.ANSWER]


def test_half_drop_position():
    assert reflection.half_drop_position(np.linspace(4.0, 0.0, 11), 0.1) == pytest.approx(0.5)
    step = np.array([4.0] * 8 + [0.0] * 3)  # the whole drop when token 8 is read
    assert reflection.half_drop_position(step, 0.1) == pytest.approx(0.8)
    assert np.isnan(reflection.half_drop_position(np.full(11, 2.0), 0.1))
    assert np.isnan(reflection.half_drop_position(np.array([1.0, 2.0, 3.0]), 0.1))  # a rise has no half drop


def test_reflection_sentence_insertion_and_its_token():
    text, at = reflection.insert_reflection("He has 3 + 4 = 7 apples.\nSo 7 - 2 = 5 left.", "Wait, let me check.")
    assert text == "He has 3 + 4 = 7 apples.\nWait, let me check.\nSo 7 - 2 = 5 left."
    assert text[at:].startswith("Wait")
    assert reflection.insert_reflection("One line only.", "Wait.") is None
    offsets = [(0, 2), (2, 5), (5, 6), (6, 10)]
    assert reflection.token_at(offsets, 6) == 3 and reflection.token_at(offsets, 2) == 1
    with pytest.raises(ValueError, match="no token covers"):
        reflection.token_at(offsets, 10)


def test_trajectory_means_and_paired_grid():
    records = [{"seed": s, "question": q, "tokens": ["a", ";", "<wait>"], "classes": ["other", "marker", "reflection"],
                "curve": curve} for s, q, curve in [(1, 0, [2.0, 1.0, 1.0, 3.0]), (1, 1, [1.0, 1.0, 1e-6, 1.0]),
                                                     (2, 0, [1.0, 2.0, 2.0, 2.0]), (2, 1, [1.0, 1.0, 1.0, 1.0])]]
    tokens = reflection.token_frame(records, min_lhat=1e-4)
    assert len(tokens) == 12 and tokens.relative_change.isna().sum() == 1
    means = reflection.trajectory_means(tokens, ["seed", "question"]).set_index(["seed", "question"])
    assert means.loc[(1, 0), "all_tokens"] == pytest.approx((0.5 + 0.0 + 2.0) / 3)
    assert means.loc[(1, 0), "reflection"] == pytest.approx(2.0)
    assert np.isnan(means.loc[(1, 1), "reflection"])  # L-hat ~ 0 before <wait>
    a, b, dropped = reflection.paired_grid(means.reset_index(), "reflection", "all_tokens")
    assert dropped == 1 and a.shape == (2, 1) and a[:, 0] == pytest.approx([2.0, 0.0])
    summary = reflection.class_summary(tokens)
    assert summary.loc["reflection", "undefined"] == 1 and summary.loc["all_tokens", "n"] == 12


def test_arms_share_notebook_02s_long_model_and_differ_in_one_field_each():
    P = load_profile("smoke")
    jobs = reflection.arm_jobs(P)
    assert set(jobs) == {(a, s) for a in reflection.ARMS for s in P.seeds}
    for s in P.seeds:
        assert jobs[("long", s)] == experiment.sft_job(P, "long", s)  # the same cache entry as notebook 02's arm
        assert jobs[("no_delimiter", s)].data.delimiter is False
        assert jobs[("no_delimiter", s)].data.style == jobs[("long", s)].data.style
        assert jobs[("reflection", s)].data.style == "reflection"
        for arm in ("reflection", "no_delimiter"):  # same questions, steps, seed and starting model
            a, b = jobs[(arm, s)], jobs[("long", s)]
            assert (a.train, a.seed, a.init, a.data.n_questions, a.data.question_seed) == \
                   (b.train, b.seed, b.init, b.data.n_questions, b.data.question_seed)


def test_reflection_records_probe_the_same_text_for_every_model(tokenizer, model):
    # digit-wise: a misread operand leaves every step's length as it is, so the token counts can be compared
    problems = toy.make_problems(3, "test", seed=8, families=toy.DIGITWISE_FAMILIES, levels=(2, 3))
    records = reflection.reflection_records(model, tokenizer, problems)
    other = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, 6).eval()
    again = reflection.reflection_records(other, tokenizer, problems)
    for r, s in zip(records, again):
        assert r["tokens"] == s["tokens"] and r["curve"] != s["curve"]
        assert len(r["curve"]) == len(r["tokens"]) + 1 and r["classes"].count("reflection") == 1
        item = probe.rendered_probe_input(tokenizer, toy.render(problems[r["question"]],
                                                           toy.TrajectorySpec("reflection", reflection=(r["reflection_step"], 1))))
        assert len(item.trajectory) == len(r["tokens"])


def test_delimiter_records_score_the_model_in_its_own_format(tokenizer, model):
    problems = toy.make_problems(2, "test", seed=9, levels=(2,))
    params = EvalParams(n_questions=2, n_samples=2, k=1, max_new_tokens=12, batch_size=8)
    for delimiter in (True, False):
        records = reflection.delimiter_records(model, tokenizer, problems, delimiter, 2, params, seed=0)
        assert [r["kind"] for r in records].count("sampled") == 4 and len(records) == 6
        ref = records[0]
        item = probe.rendered_probe_input(tokenizer, toy.render(problems[0], toy.TrajectorySpec("long", delimiter=delimiter)))
        assert ref["curve"] == pytest.approx(probe.inner_loop_curve(model, item).tolist())
    frame = reflection.curve_frame(records, fall_threshold=0.1, curve_points=5)
    assert isinstance(frame, pd.DataFrame) and len(frame.curve[0]) == 5
    assert (frame.final_lhat == [r["curve"][-1] for r in records]).all()


def test_reflection_word_is_located_in_smollm2_tokens():
    pytest.importorskip("gguf")
    from raml_utils.worlds import llm

    try:
        folder = llm.smollm2_dir()
    except RuntimeError as err:
        pytest.skip(str(err))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=llm.SMOLLM2_GGUF)
    solution = "Robert has 72*0.5=36 pebbles.\nHe found 17 more: 36+17=53 pebbles."
    for word in ("Wait", "Alternatively", "However", "Hold on"):
        text, at = reflection.insert_reflection(solution, f"{word}, let me check this step again.")
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        i = reflection.token_at(enc["offset_mapping"], at)
        start, end = enc["offset_mapping"][i]
        assert word.startswith(text[start:end].strip()) and text[start:end].strip()
        classes = [reflection.token_class(text[a:b], j == i, reflection.LLM_MARKERS)
                   for j, (a, b) in enumerate(enc["offset_mapping"])]
        assert classes.count("reflection") == 1 and "marker" in classes


def test_by_word_table_counts_reflection_tokens_per_word():
    tokens = pd.DataFrame({"word": ["Wait", "Wait", "Wait", "Hmm", "Hmm"],
                           "token_class": ["reflection", "step", "reflection", "reflection", "step"],
                           "relative_change": [1.0, 0.0, 0.5, 2.0, 1.0], "lhat_before": [1.0, 1.0, 2.0, 1.0, 1.0],
                           "lhat_after": [0.0, 1.0, 1.0, 3.0, 2.0]})
    table = reflection.by_word_table(tokens)
    assert list(table.index) == ["Wait", "Hmm"]  # in order of appearance
    assert table.loc["Wait", "tokens"] == 2 and table.loc["Wait", "mean_relative_change"] == 0.75
    assert table.loc["Wait", "lhat_before"] == 1.5 and table.loc["Hmm", "lhat_after"] == 3.0
    assert table.loc["Wait", "mean_over_all_tokens_of_those_solutions"] == pytest.approx(0.5)  # every token of it
