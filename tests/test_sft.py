"""SFT through TRL: length-sorted micro-batches give the update of one padded batch, batches follow the seed."""

import dataclasses

import pytest

from raml_utils import sft
from raml_utils.models import build_model
from raml_utils.params import ModelParams, TrainParams
from raml_utils.worlds import ToyWorld, toy


@pytest.fixture(scope="module")
def tokenizer():
    return toy.build_tokenizer()


def examples(n=32):
    problems = toy.make_problems(n, "train", 0, toy.FAMILIES, (1, 2, 3, 4))
    return ToyWorld().training_examples(problems, "long", 0, truncation_rate=0.25)


def first_step(tokenizer, micro_batches: int) -> dict:
    model = build_model(ModelParams(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, 0)
    train = TrainParams(steps=1, batch_size=32, micro_batches=micro_batches)
    _, history = sft.train_sft(model.train(), tokenizer, examples(), train, seed=0)
    return history[0]


def test_length_sorted_micro_batches_give_the_loss_and_gradient_of_one_padded_batch(tokenizer, monkeypatch):
    monkeypatch.setattr(sft, "LOGGING_STEPS", 1)
    one, four = first_step(tokenizer, 1), first_step(tokenizer, 4)
    # One step over the same 32 sequences (the whole set): the loss is the mean over every completion token of
    # the batch, not a mean of micro-batch means, and the summed gradient is the full batch's.
    assert four["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert four["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)


def batches(tokenizer, seed: int, epoch: int = 0) -> list[list[int]]:
    import tempfile

    train = TrainParams(steps=4, batch_size=16, micro_batches=4)
    model = build_model(ModelParams(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, 0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = sft._seeded_trainer_class()(model=model, args=sft.sft_config(train, seed, tmp),
                                              train_dataset=sft.to_dataset(examples(64), tokenizer),
                                              processing_class=tokenizer)
        sampler = trainer._get_train_sampler()
        sampler.set_epoch(epoch)
        return list(sampler)


def test_micro_batches_are_length_sorted_parts_of_a_random_batch_drawn_by_the_runs_seed(tokenizer):
    a, again, b = batches(tokenizer, 1), batches(tokenizer, 1), batches(tokenizer, 2)
    assert a == again and a != b  # the run's seed decides the batches (not the sampler's default seed)
    assert a != batches(tokenizer, 1, epoch=1)  # and they change from epoch to epoch
    steps = [sum(a[i:i + 4], []) for i in range(0, len(a), 4)]  # the 4 micro-batches of each optimizer step
    assert all(len(s) == len(set(s)) == 16 for s in steps)
    assert sorted(sum(steps, [])) == list(range(64))  # one epoch: every sequence exactly once


def test_micro_batches_must_divide_the_batch():
    from raml_utils.params import ParamError

    with pytest.raises(ParamError, match=r"micro_batches=3 is not allowed: a positive divisor of batch_size=16"):
        dataclasses.replace(TrainParams(), batch_size=16, micro_batches=3).validate("sft")
