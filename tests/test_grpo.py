"""The GRPO path: the paper's reward, the support-set mask (loss on n rollouts, advantages over the group), jobs."""

import copy
import pickle

import pytest
import torch

from raml_utils import dispatch, grpo, rewards, support_set
from raml_utils.cache import Store
from raml_utils.models import ModelConfig, build_model, load_model
from raml_utils.params import GRPOParams, ModelParams, TrainParams, load_profile
from raml_utils.training import SFTData, SupportSetData, TrainJob, load_history
from raml_utils.worlds import ToyWorld, toy

PROBLEM = toy.make_problems(1, "train", seed=3, families=("chain",), levels=(3,))[0]
GOOD = toy.render(PROBLEM).completion  # trajectory </think><ans>dd<eos>
ANSWER = f"{PROBLEM.answer:02d}"
WRONG = f"{(PROBLEM.answer + 1) % 100:02d}"
TRAJ = toy.render(PROBLEM).trajectory


# --- the paper's reward ------------------------------------------------------------------------

@pytest.mark.parametrize("completion, reward", [
    (GOOD, 1.0),                                                               # right format, right answer
    (TRAJ + "</think><ans>" + WRONG + "<eos>", 0.0),                           # right format, wrong answer
    (TRAJ + "<ans>" + ANSWER + "<eos>", -0.5),                                 # no </think>: bad format
    (TRAJ + "</think><ans>" + ANSWER, -0.5),                                   # cut at the length limit: no <eos>
    (TRAJ + "</think><ans>" + WRONG + "</think><ans>" + ANSWER + "<eos>", -0.5),  # two answers: the last counts
    (TRAJ + "</think></think><ans>" + ANSWER + "<eos>", -0.5),                 # doubled delimiter
    (TRAJ + "<ans>" + WRONG + "<eos>", -1.0),                                  # bad format, wrong answer
    (TRAJ + "</think><ans>" + ANSWER + "1<eos>", -1.0),                        # states a three-digit answer
    (TRAJ + "</think><eos>", -1.0),                                            # no answer at all
    ("", -1.0),
])
def test_paper_reward_scores_format_and_answer(completion, reward):
    assert rewards.paper_reward(completion, PROBLEM) == reward


def test_paper_reward_follows_the_delimiter_setting():
    no_delim = toy.render(PROBLEM, toy.TrajectorySpec(delimiter=False)).completion
    assert rewards.paper_reward(no_delim, PROBLEM, delimiter=False) == 1.0
    assert rewards.paper_reward(no_delim, PROBLEM, delimiter=True) == -0.5  # the delimiter was asked for
    assert rewards.paper_reward(GOOD, PROBLEM, delimiter=False) == -0.5


def test_trl_reward_function_decodes_special_tokens():
    tok = toy.build_tokenizer()
    ids = [tok(c, add_special_tokens=False)["input_ids"] for c in (GOOD, TRAJ + "<ans>" + ANSWER + "<eos>")]
    # TRL's own text drops special tokens: the function must score the ids, not ``completions``.
    stripped = [tok.decode(i, skip_special_tokens=True) for i in ids]
    scored = rewards.PaperReward(tok, ToyWorld(), [PROBLEM])(prompts=["", ""], completions=stripped, completion_ids=ids,
                                                         question=[0, 0])
    assert scored == [1.0, -0.5]


# --- the support-set mask ----------------------------------------------------------------------

def test_support_indices_pick_n_distinct_rollouts_of_every_group_reproducibly():
    gen = torch.Generator().manual_seed(7)
    keep = grpo.support_indices(n_groups=3, group_size=8, support_n=3, generator=gen)
    assert keep.tolist() == sorted(keep.tolist()) and len(set(keep.tolist())) == 9
    assert [sum(1 for i in keep.tolist() if i // 8 == g) for g in range(3)] == [3, 3, 3]
    again = grpo.support_indices(3, 8, 3, torch.Generator().manual_seed(7))
    assert torch.equal(keep, again)
    assert grpo.support_indices(2, 4, 4, gen).tolist() == list(range(8))
    with pytest.raises(ValueError, match=r"support_n=5 must lie in 1\.\.group_size=4"):
        grpo.support_indices(1, 4, 5, gen)


def token_sum_reward(prompts, completions, completion_ids, **kwargs):
    """A reward that varies between rollouts of a random model (the paper's would be -1 for all)."""
    return [float(sum(ids) % 7) for ids in completion_ids]


@pytest.fixture(scope="module")
def scored_group(tmp_path_factory):
    """One generation step of a tiny model: 2 questions x 4 rollouts, the loss kept on 2 per group."""
    tok = toy.build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tok, 0)
    problems = toy.make_problems(2, "train", 0, ("chain",), (2,))
    params = GRPOParams(steps=1, prompts_per_step=2, group_size=4, max_completion_length=12)
    trainer = grpo.make_trainer(model, tok, problems, params, seed=0, support_n=2,
                                output_dir=str(tmp_path_factory.mktemp("grpo")), reward_funcs=[token_sum_reward])
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which this test bypasses
    rows = [{"prompt": toy.render(p, toy.TrajectorySpec("answer_only")).prompt, "answer": p.answer} for p in problems]
    batch = trainer._generate_and_score_completions([rows[0]] * 4 + [rows[1]] * 4)  # TRL's layout: groups in a row
    return trainer, batch


def test_advantages_use_the_whole_group_and_only_selected_rows_remain(scored_group):
    trainer, batch = scored_group
    full, keep = trainer.last_group["full"], trainer.last_group["keep"]
    ids, mask = full["completion_ids"], full["completion_mask"].bool()
    rewards = torch.tensor(token_sum_reward(None, None, [i[m].tolist() for i, m in zip(ids, mask)]))
    groups = rewards.view(2, 4)
    whole_group = ((groups - groups.mean(1, keepdim=True)) / (groups.std(1, keepdim=True) + 1e-4)).view(-1)
    assert groups.std(1).min() > 0  # a non-degenerate group, so the check below means something
    assert torch.allclose(full["advantages"], whole_group, atol=1e-5)
    assert batch["advantages"].shape == (4,) and torch.equal(batch["advantages"], full["advantages"][keep])
    kept = rewards[keep].view(2, 2)
    within_kept = ((kept - kept.mean(1, keepdim=True)) / (kept.std(1, keepdim=True) + 1e-4)).view(-1)
    assert not torch.allclose(batch["advantages"], within_kept, atol=1e-3)  # not renormalised over the kept rows
    assert torch.equal(batch["completion_ids"], full["completion_ids"][keep][:, :batch["completion_ids"].shape[1]])


def _loss_and_grad(trainer, loss_fn):
    trainer.model.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])


def _masked_reference_loss(trainer, full, gen_mask):
    """The paper's gen_mask loss on the whole group: -sum(A * ratio * mask * gen_mask) / sum(mask * gen_mask)."""
    input_ids = torch.cat([full["prompt_ids"], full["completion_ids"]], dim=1)
    attention = torch.cat([full["prompt_mask"], full["completion_mask"]], dim=1)
    logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention,
                                                             full["completion_ids"].shape[1])  # (B, T)
    token_mask = full["completion_mask"] * gen_mask.unsqueeze(1)  # (B, T)
    per_token = -torch.exp(logps - logps.detach()) * full["advantages"].unsqueeze(1)
    return (per_token * token_mask).sum() / token_mask.sum()


def test_policy_loss_ignores_exactly_the_unselected_rollouts(scored_group):
    trainer, batch = scored_group
    full, keep = trainer.last_group["full"], trainer.last_group["keep"]
    gen_mask = torch.zeros(8)
    gen_mask[keep] = 1.0
    loss, grad = _loss_and_grad(trainer, lambda: trainer.compute_loss(trainer.model, batch))
    ref_loss, ref_grad = _loss_and_grad(trainer, lambda: _masked_reference_loss(trainer, full, gen_mask))
    assert torch.allclose(loss, ref_loss, atol=1e-6) and torch.allclose(grad, ref_grad, atol=1e-5)
    assert grad.norm() > 0
    # Taking every rollout instead gives another update: the mask is what makes the difference.
    _, all_grad = _loss_and_grad(trainer, lambda: _masked_reference_loss(trainer, full, torch.ones(8)))
    assert not torch.allclose(grad, all_grad, atol=1e-5)


def test_trainer_pins_a_token_mean_loss_and_one_update_per_generation(scored_group):
    trainer, _ = scored_group
    assert trainer.loss_type == "bnpo"
    assert trainer.args.gradient_accumulation_steps == 1 and trainer.args.steps_per_generation == 1
    assert not trainer.args.gradient_checkpointing and not trainer.args.bf16


def test_groups_without_reward_spread_give_a_zero_gradient(tmp_path):
    """All rollouts of every group rewarded alike: every advantage is 0, so the update is exactly zero (and AdamW,
    with no weight decay, does not move the weights: only its momentum from earlier steps could)."""
    tok = toy.build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tok, 0)
    problems = toy.make_problems(2, "train", 0, ("chain",), (2,))
    params = GRPOParams(steps=1, prompts_per_step=2, group_size=4, max_completion_length=12)
    trainer = grpo.make_trainer(model, tok, problems, params, seed=0, support_n=4, output_dir=str(tmp_path),
                                reward_funcs=[lambda completion_ids, **kw: [1.0] * len(completion_ids)])
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    rows = [{"prompt": toy.render(p, toy.TrajectorySpec("answer_only")).prompt, "answer": p.answer} for p in problems]
    batch = trainer._generate_and_score_completions([rows[0]] * 4 + [rows[1]] * 4)
    assert torch.equal(batch["advantages"], torch.zeros(8))
    _, grad = _loss_and_grad(trainer, lambda: trainer.compute_loss(trainer.model, batch))
    assert grad.abs().max() == 0


def test_training_forward_matches_an_unpadded_forward_for_prompts_of_mixed_lengths(tmp_path):
    """The log-probs TRL trains on (left-padded prompts, right-padded completions in one batch) equal those of each
    sequence run alone, unpadded, to < 1e-4 in float32: padding and position ids do not bias the policy gradient."""
    tok = toy.build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64), tok, 0)
    problems = [toy.make_problems(1, "train", 0, ("chain",), (k,))[0] for k in (1, 4)]  # prompts of unequal length
    params = GRPOParams(steps=1, prompts_per_step=2, group_size=2, max_completion_length=12)
    trainer = grpo.make_trainer(model, tok, problems, params, seed=0, support_n=2, output_dir=str(tmp_path),
                                reward_funcs=[token_sum_reward])
    trainer.model.eval()  # no dropout: the two forwards must see the same function
    rows = [{"prompt": toy.render(p, toy.TrajectorySpec("answer_only")).prompt, "answer": p.answer} for p in problems]
    batch = trainer._generate_and_score_completions([rows[0]] * 2 + [rows[1]] * 2)
    assert batch["prompt_mask"].sum(1).unique().numel() == 2  # the batch really mixes prompt lengths
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].shape[1]
    with torch.no_grad():
        batched, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, width)  # (B, T)
        for row in range(ids.shape[0]):
            prompt = batch["prompt_ids"][row][batch["prompt_mask"][row].bool()]
            completion = batch["completion_ids"][row][batch["completion_mask"][row].bool()]
            alone = torch.cat([prompt, completion]).unsqueeze(0)  # (1, L), no padding
            logits = trainer.model(alone).logits[0, len(prompt) - 1:-1]  # (completion tokens, vocab)
            reference = torch.log_softmax(logits.float(), dim=-1).gather(1, completion.unsqueeze(1)).squeeze(1)
            assert (batched[row, :len(completion)] - reference).abs().max() < 1e-4


# --- jobs --------------------------------------------------------------------------------------

TINY = ModelParams(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


def tiny_jobs(support_n=2):
    sft = TrainJob(SFTData("long", 8, ("chain",), (2,), 0.0, 0.2), TrainParams(steps=2, batch_size=4), TINY, seed=0)
    data = grpo.GRPOData(("chain",), (2,), n_questions=8, test_fraction=0.2)
    params = GRPOParams(steps=2, prompts_per_step=2, group_size=4, max_completion_length=16)
    return sft, grpo.GRPOJob(data, params, support_n, seed=1, init=sft)


def test_grpo_job_trains_once_and_saves_its_reward_and_gradient_history(tmp_path, monkeypatch):
    store = Store(tmp_path)
    sft, job = tiny_jobs()
    assert pickle.loads(pickle.dumps(job)) == job
    assert store.path("model", job) != store.path("model", tiny_jobs(support_n=4)[1])  # n is part of the key
    (path,) = dispatch.build_all(store, [job])
    history = load_history(path)
    assert [h["step"] for h in history] == [1, 2]
    assert all(h["reward"] is not None and h["grad_norm"] is not None and h["reward"] >= -1 for h in history)
    assert all(0 <= h["accuracy"] <= 1 for h in history)
    assert store.has("model", sft)  # the starting point was made and cached too
    monkeypatch.setattr(grpo, "train_grpo", lambda *a, **k: pytest.fail("trained again"))
    assert dispatch.build_all(store, [job]) == [path]


def test_logged_accuracy_has_weight_zero_the_update_is_the_paper_reward_alone(tmp_path):
    sft, job = tiny_jobs()
    model, tokenizer = load_model(dispatch.build_all(Store(tmp_path), [sft])[0])
    problems = job.data.problems()
    states = []
    for reward_funcs in (None, [rewards.PaperReward(tokenizer, ToyWorld(), problems)]):  # default: paper reward + accuracy at weight 0
        trainer = grpo.make_trainer(copy.deepcopy(model).train(), tokenizer, problems, job.grpo, job.seed,
                                    job.support_n, str(tmp_path / "run"), reward_funcs=reward_funcs)
        trainer.train()
        states.append(trainer.model.state_dict())
        logged = [h for h in trainer.state.log_history if "reward" in h]
        assert ("rewards/accuracy/mean" in logged[0]) == (reward_funcs is None)
    assert all(torch.equal(states[0][name], states[1][name]) for name in states[0])


# --- equal training frequency for the SFT arms ---------------------------------------------------

def test_support_set_data_has_equal_sequences_per_question_and_n_distinct_trajectories():
    def arm(n):
        return SupportSetData("short", 6, ("chain", "list"), (4,), 0.0, 0.2, orders_per_question=n,
                              sequences_per_question=4).examples()

    for n in (1, 2, 4):
        examples = arm(n)
        by_question: dict = {}
        for r in examples:
            by_question.setdefault(r.prompt, []).append(r.trajectory)
        assert len(by_question) == 6 and all(len(t) == 4 for t in by_question.values())
        assert all(len(set(t)) == n for t in by_question.values())
    with pytest.raises(ValueError, match="sequences_per_question=1 must be at least orders_per_question=2"):
        SupportSetData("short", 6, ("chain",), (4,), 0.0, 0.2, orders_per_question=2).examples()


def test_the_fill_leaves_other_training_sets_unchanged():
    problems = toy.make_problems(5, "train", 0, ("chain",), (3,))
    plain = ToyWorld().training_examples(problems, "long", 0, truncation_rate=0.25, orders_per_question=2)
    assert ToyWorld().training_examples(problems, "long", 0, truncation_rate=0.25, orders_per_question=2,
                                        sequences_per_question=None) == plain


def test_rollouts_are_drawn_by_sampling_decode_and_feed_the_update(tmp_path, monkeypatch):
    """The trainer's generation is ``grpo.rollouts``: each rollout stops at its first EOS or at the length limit,
    and the group TRL scores is exactly what it returned (prompts repeated group_size times)."""
    sft, job = tiny_jobs()
    model, tokenizer = load_model(dispatch.build_all(Store(tmp_path), [sft])[0])
    drawn = []
    real = grpo.rollouts

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        drawn.append((args[1], out))
        return out

    monkeypatch.setattr(grpo, "rollouts", spy)
    trainer = grpo.make_trainer(model.train(), tokenizer, job.data.problems(), job.grpo, job.seed, job.support_n,
                                str(tmp_path / "run"))
    trainer.train()
    assert len(drawn) == job.grpo.steps
    for prompts, completions in drawn:
        assert len(prompts) == len(completions) == job.grpo.prompts_per_step * job.grpo.group_size
        for c in completions:
            assert 1 <= len(c) <= job.grpo.max_completion_length
            assert tokenizer.eos_token_id not in c[:-1]  # nothing after the first EOS
    assert model.training  # sampling left the model in training mode


def test_the_reward_and_mask_examples_show_what_a_grpo_step_computes():
    from raml_utils.worlds import world_of

    P = load_profile("smoke")
    problem = support_set.sft_arm_job(P, 1, 1).data.problems()[0]
    table = rewards.reward_examples(world_of(P.world), problem)
    assert table.reward.tolist() == [1.0, -0.5, 0.0, -1.0]  # right, right cut off, wrong, wrong cut off
    mask = grpo.support_mask_example(group_size=8, support_n=3)
    assert mask["in the policy loss"].sum() == 3 and abs(mask["advantage (whole group)"].sum()) < 1e-2
    assert mask.loc[0, "advantage (whole group)"] == pytest.approx((1.0 - mask.reward.mean()) / (mask.reward.std() + 1e-4),
                                                                   abs=1e-3)
