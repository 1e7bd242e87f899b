"""Bad parameters fail before any compute, with a message naming the key, the value and what is allowed."""

import ast
import dataclasses
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import raml_utils.params
from raml_utils.params import PARAMS_DIR, ParamError, Profile, load_profile
from raml_utils.results import load_claims

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text: str):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert isinstance(profile, Profile) and profile.name == name


def test_inherit_overrides_only_the_given_keys(tmp_path):
    profile = load_profile(write(tmp_path, "inherit: smoke\nsft: {steps: 7}\n"))
    smoke = load_profile("smoke")
    assert profile.sft.steps == 7 and profile.sft.batch_size == smoke.sft.batch_size
    assert profile.model == smoke.model and profile.name == "mine"


@pytest.mark.parametrize("text, message", [
    ("sft: {stepz: 3}", r"sft\.stepz=3 is not allowed: unknown key; allowed keys here: \['batch_size', "),
    ("colour: red", r"colour='red' is not allowed: unknown key"),
    ("sft: {steps: ten}", r"sft\.steps='ten' is not allowed: an integer"),
    ("sft: {steps: 2.5}", r"sft\.steps=2\.5 is not allowed: an integer"),
    ("seeds: 3", r"seeds=3 is not allowed: a list"),
    ("eval: {n_samples: 4, k: 8}", r"eval\.k=8 is not allowed: an integer in 1\.\.n_samples=4"),
    ("sft: {steps: -5}", r"sft\.steps=-5 is not allowed: a positive integer"),
    ("eval: {n_questions: 0}", r"eval\.n_questions=0 is not allowed: a positive integer"),
    ("trajectory_length: {styles: [short, longest]}",
     r"trajectory_length\.styles='longest' is not allowed: trajectory styles \('answer_only', 'short'"),
    ("base: {trajectory_styles: [verbose]}", r"base\.trajectory_styles='verbose' is not allowed: trajectory styles"),
    ("world: {held_out_family: maths}", r"world\.held_out_family='maths' is not allowed: one of families"),
    ("world: {hard_levels: [8]}\ngeneralisation: {max_new_tokens: 100}",
     r"generalisation\.max_new_tokens=100 is not allowed: at least \d+ tokens: the longest correct completion"),
    ("eval: {n_questions: 12}\nreflection: {n_questions: 20}",
     r"reflection\.n_questions=20 is not allowed: at most eval\.n_questions=12"),
    ("sft: {truncation_rate: 1.5}", r"sft\.truncation_rate=1\.5 is not allowed: a value in \[0, 1\)"),
    ("model: {hidden_size: 30, num_heads: 4}", r"model\.num_heads=4 is not allowed: a divisor of hidden_size=30"),
    ("seeds: [1, 1]", r"seeds=\(1, 1\) is not allowed: one or more distinct integers"),
])
def test_bad_values_name_key_value_and_what_is_allowed(tmp_path, text, message):
    with pytest.raises(ParamError, match=message):
        load_profile(write(tmp_path, "inherit: smoke\n" + text + "\n"))


def test_missing_profile_file_lists_the_available_ones(tmp_path):
    with pytest.raises(ParamError, match=r"profile='nope' is not allowed: no file .*nope\.yaml; available profiles: "
                                         r"\['cpu', 'cpu_before_budget', 'cpu_before_cuts', 'cpu_v1', 'cpu_v2', 'gpu', 'gpu_check', 'smoke', "
                                         r"'smoke_llm'\]"):
        load_profile("nope")
    with pytest.raises(ParamError, match=r"no file .*absent\.yaml"):
        load_profile(tmp_path / "absent.yaml")


def test_validation_happens_before_any_compute(tmp_path):
    # A bad profile must fail in load_profile, which loads nothing but the params and worlds layers: no torch, no
    # training code, so nothing could have started.
    bad = write(tmp_path, "inherit: smoke\neval: {k: 0}\n")
    code = ("import sys\nfrom raml_utils.params import ParamError, load_profile\n"
            f"try:\n    load_profile({str(bad)!r})\nexcept ParamError as e:\n    print('rejected:', e)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('raml_utils.')\n"
            "             and not m.startswith(('raml_utils.params', 'raml_utils.worlds'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["rejected: eval.k=0 is not allowed: an integer in 1..n_samples=4", "[]"]


def test_cpu_before_cuts_differs_from_cpu_v1_only_in_the_two_cut_settings():
    v1, before = load_profile("cpu_v1"), load_profile("cpu_before_cuts")
    assert (before.base.train.steps, before.support_set.sft_steps) == (1000, 100)
    assert (v1.base.train.steps, v1.support_set.sft_steps) == (500, 50)
    restored = dataclasses.replace(before, name=v1.name, base=v1.base, support_set=v1.support_set)
    assert restored == v1


def test_cpu_runs_the_budget_amendment_and_cpu_before_budget_the_sizes_before_it():
    cpu, before, plan = load_profile("cpu"), load_profile("cpu_before_budget"), load_claims()["budget_amendment"]
    assert (cpu.sft.steps, cpu.eval.n_questions, len(cpu.sft_then_rl.seeds or cpu.seeds)) == (
        plan["sft_steps"], plan["in_domain_questions"], plan["sft_then_rl_seeds"])
    assert (before.sft.steps, before.eval.n_questions, before.sft_then_rl.seeds) == (300, 120, (1, 2, 3, 4, 5))
    # The three cuts that change no verdict's data: support-set curve, descriptive splits, lesson runs.
    assert (cpu.support_set.sft_sizes, cpu.generalisation.n_questions, cpu.rl_check.lesson_runs) == ((1, 4, 8), 16, 1)
    assert (before.support_set.sft_sizes, before.generalisation.n_questions, before.rl_check.lesson_runs) == (
        (1, 2, 4, 8), 32, 3)
    # Apart from those and the rungs their own pilot placed, the two profiles are the same study.
    # The fourth amendment's two changes too: C10's compressed style and SFT -> RL's learning rate.
    assert (before.efficiency.compressed_style, before.sft_then_rl.learning_rate) == ("compressed", None)
    # And the fifth amendment's world (cpu_before_budget keeps version 2's carry_vars).
    assert before.world == load_profile("cpu_v2").world
    restored = dataclasses.replace(before, name=cpu.name, world=cpu.world, sft=cpu.sft, eval=cpu.eval,
                                   sft_then_rl=cpu.sft_then_rl, ladder=cpu.ladder, support_set=cpu.support_set,
                                   efficiency=cpu.efficiency, generalisation=cpu.generalisation, rl_check=cpu.rl_check)
    assert restored == cpu


def test_cpu_runs_the_fourth_amendment():
    cpu, plan = load_profile("cpu"), load_claims()
    assert cpu.efficiency.compressed_style == plan["compressed_arm_style"] == "compressed_ops"
    pilot = plan["sft_then_rl_learning_rate"]
    assert cpu.sft_then_rl.learning_rate in pilot["rates"]
    # The pilot's seeds are no verdict's and no check's.
    assert not set(pilot["grpo_seeds"]) & {*cpu.seeds, *cpu.sft_then_rl.seeds, *cpu.rl_check.check_seeds}
    assert pilot["sft_seed"] not in {*cpu.seeds, *cpu.sft_then_rl.seeds}
    v1 = load_profile("cpu_v1")
    assert (v1.efficiency.compressed_style, v1.sft_then_rl.learning_rate) == ("compressed", None)


def test_cpu_v1_runs_the_first_study_world_without_a_ladder():
    v1, cpu = load_profile("cpu_v1"), load_profile("cpu")
    assert v1.world.families == ("chain", "vars", "list") and v1.world.held_out_family == "vars"
    assert cpu.world.families == ("carry_chain", "carry_names", "carry_list")
    assert v1.ladder.levels == () and v1.base.mid_trajectory_rate == 0.3 and v1.support_set.grpo_levels == (4,)
    assert "coarse" not in v1.trajectory_length.styles and "coarse" in cpu.trajectory_length.styles


def test_a_profile_mixing_the_two_arithmetics_or_a_ladder_without_the_training_levels_fails(tmp_path):
    with pytest.raises(ParamError, match="families of one arithmetic"):
        load_profile(write(tmp_path, "inherit: smoke\nworld: {families: [carry_chain, vars], held_out_family: vars}\n"))
    with pytest.raises(ParamError, match=r"ladder.levels=\(1, 2\) is not allowed: levels that include every training"):
        load_profile(write(tmp_path, "inherit: smoke\nladder: {levels: [1, 2], rungs: {}}\n"))
    with pytest.raises(ParamError, match=r"ladder.rungs='C7' is not allowed"):
        load_profile(write(tmp_path, "inherit: smoke\nladder: {rungs: {C7: [2]}}\n"))
    with pytest.raises(ParamError, match="trajectory_length.styles='coarse' is not allowed: the llm world's styles"):
        load_profile(write(tmp_path, "inherit: smoke_llm\ntrajectory_length: {styles: [short, coarse]}\n"))


def test_question_counts_are_checked_against_what_the_world_holds(tmp_path):
    with pytest.raises(ParamError, match=r"eval.n_questions=100000000 is not allowed: at most \d+: the distinct test "
                                         r"questions of families \('carry_chain', 'carry_list'\) at k in"):
        load_profile(write(tmp_path, "inherit: smoke\neval: {n_questions: 100000000}\n"))
    with pytest.raises(ParamError, match=r"generalisation.n_questions=\d+ is not allowed: .*operands 80..99"):
        load_profile(write(tmp_path, "inherit: smoke\ngeneralisation: {n_questions: 5000000}\n"))


def test_the_capacity_of_a_small_cell_is_counted_one_by_one():
    from raml_utils.worlds import toy

    assert toy.split_capacity("carry_list", 1, "test") + toy.split_capacity("carry_list", 1, "train") == 100 * 100
    problems = toy.make_problems(toy.split_capacity("carry_list", 1, "test"), "test", 0, ("carry_list",), (1,))
    assert len({p.key for p in problems}) == toy.split_capacity("carry_list", 1, "test")  # every one of them exists


def test_a_renamed_key_names_its_new_name_and_keeps_cache_keys(tmp_path):
    from raml_utils.cache import plain_data
    from raml_utils.experiment import sft_job

    with pytest.raises(ParamError, match=r"world.train_steps=\[2, 3\] is not allowed: the key is now world.train_levels"):
        load_profile(write(tmp_path, "inherit: smoke\nworld: {train_steps: [2, 3]}\n"))
    with pytest.raises(ParamError, match=r"support_set.steps=\[4\] is not allowed: the key is now support_set.levels"):
        load_profile(write(tmp_path, "inherit: smoke\nsupport_set: {steps: [4]}\n"))
    with pytest.raises(ParamError, match=r"sft.levels=5 is not allowed: unknown key"):  # optimizer steps stay steps
        load_profile(write(tmp_path, "inherit: smoke\nsft: {levels: 5}\n"))
    plain = plain_data(sft_job(load_profile("smoke"), "long", 1))
    assert plain["data"]["steps"] == [2, 3, 4] and "levels" not in plain["data"]  # the key a cached model was made under
    assert "train_steps" in plain["data"] or "train_steps" in plain_data(load_profile("smoke").world)


def params_modules():
    return [importlib.import_module(f"raml_utils.params.{m.name}") for m in pkgutil.iter_modules(raml_utils.params.__path__)]


def field_docs(module) -> dict[str, dict[str, str]]:
    """Returns {dataclass: {field: the string right after it}} of a module's source ('' where there is none)."""
    docs = {}
    for node in ast.parse(Path(module.__file__).read_text()).body:
        if isinstance(node, ast.ClassDef) and dataclasses.is_dataclass(getattr(module, node.name)):
            body = node.body
            docs[node.name] = {
                stmt.target.id: (nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                                 and isinstance(nxt.value.value, str) else "")
                for stmt, nxt in zip(body, body[1:] + [None])
                if isinstance(stmt, ast.AnnAssign) and "ClassVar" not in ast.unparse(stmt.annotation)}
    return docs


def test_every_field_says_what_it_does_and_no_field_keeps_its_history():
    documented = {}
    for module in params_modules():
        documented.update(field_docs(module))
    parts = [getattr(Profile(), f.name) for f in dataclasses.fields(Profile)]
    classes = {"Profile", "LLMWorldParams"} | {type(part).__name__ for part in parts if dataclasses.is_dataclass(part)}
    assert classes <= set(documented)  # every dataclass a profile fills is declared in the package's modules
    for cls, docs in documented.items():
        fields = {f.name for f in dataclasses.fields(getattr(raml_utils.params, cls))}
        assert set(docs) == fields, cls
        for name, doc in docs.items():
            assert doc.strip(), f"{cls}.{name} has no docstring"
            # A value's history (when and why it changed) belongs in README "Parameters: history of the defaults".
            assert not re.search(r"\b20\d\d-\d\d-\d\d\b", doc), f"{cls}.{name}: {doc}"


def test_the_package_re_exports_every_dataclass_and_constant_of_its_modules():
    for module in params_modules():
        tree = ast.parse(Path(module.__file__).read_text())
        constants = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if t.id.isupper()}
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and obj.__module__ == module.__name__) or name in constants:
                assert getattr(raml_utils.params, name) is obj and name in raml_utils.params.__all__, name
    assert PARAMS_DIR == ROOT / "params" and (PARAMS_DIR / "claims.yaml").is_file()  # the top-level folder


def test_the_readme_history_ends_at_each_default():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Parameters: history of the defaults\n")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `([\w.]+)` \| `([^`]+)` → `([^`]+)` \| (\d{4}-\d\d-\d\d) \|", section, re.M)
    assert len(rows) >= 10
    latest, dates = {}, [date for *_, date in rows]
    assert dates == sorted(dates)  # oldest first
    for key, old, new, _ in rows:
        old, new = ast.literal_eval(old), ast.literal_eval(new)
        assert latest.get(key, old) == old, key  # each row starts where the key's last row ended
        latest[key] = new
    for key, value in latest.items():
        default = Profile()
        for part in key.split("."):
            default = getattr(default, part)
        assert default == value, key


def test_cpu_runs_the_fifth_amendment_world_and_cpu_v2_the_world_before_it():
    cpu, plan = load_profile("cpu"), load_claims()["world_amendment"]
    v2 = load_profile(plan["profile_before"])
    assert (cpu.world.families, cpu.world.held_out_family) == (tuple(plan["families"]), plan["held_out_family"])
    assert (v2.world.held_out_family, cpu.world.train_families) == ("carry_vars", v2.world.train_families)
    assert v2.world.families == ("carry_chain", "carry_vars", "carry_list")
    # The same study in every other setting but the rungs, placed again in the new world by the ladder pilot.
    assert dataclasses.replace(v2, name=cpu.name, world=cpu.world, ladder=cpu.ladder) == cpu


def test_cpu_runs_sft_then_rl_at_the_sixth_amendment_step_down():
    cpu, plan = load_profile("cpu"), load_claims()
    step = plan["sft_then_rl_step_down"]
    rates = plan["sft_then_rl_learning_rate"]["rates"]
    assert cpu.sft_then_rl.learning_rate == step["rate"] and step["failed_rate"] in rates
    assert step["rate"] == max(r for r in rates if r < step["failed_rate"])  # the next lower rate of the pilot's list
