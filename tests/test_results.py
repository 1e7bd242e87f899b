"""How every notebook opens and closes: ``results.start`` and ``results.finish``."""

import dataclasses
import json

from raml_utils import results
from raml_utils import stats
from raml_utils.stats import ClaimResult


def a_claim(**fields) -> ClaimResult:
    return ClaimResult(**{"claim": "C3", "metric": "pass_at_k", "arms": ("long", "short"), "effect": 0.125, "lo": 0.05,
                          "hi": 0.2, "n_seeds": 2, "n_questions": 12, "direction": 1, "margin": 0.02,
                          "verdict": "reproduced", **fields})


def test_start_loads_the_profile_and_names_the_output_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAML_OUTPUT_DIR", str(tmp_path / "out"))
    run = results.start("smoke", "02_trajectory_length")
    assert run.profile.name == "smoke" and run.notebook == "02_trajectory_length"
    assert run.out_dir == tmp_path / "out" and run.out_dir.is_dir() and run.timer.sections == {}
    header = capsys.readouterr().out
    assert "profile smoke" in header and results.params_hash(run.profile) in header and str(run.out_dir) in header


def test_finish_writes_metrics_and_timings_and_prints_each_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAML_OUTPUT_DIR", str(tmp_path))
    run = results.start("smoke", "06_generalisation")
    with run.timer.section("train"):
        pass
    claims = [a_claim(ladder="on rungs k = 3, 4"), a_claim(role="secondary", verdict="mixed")]
    results.finish(run, claims, {"x": 1}, labels=["in_domain", "held_out_family"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["notebook"] == "06_generalisation" and metrics["measurements"] == {"x": 1}
    assert [c["label"] for c in metrics["claims"]] == ["in_domain", "held_out_family"]
    assert "train" in json.loads((tmp_path / "timings.json").read_text())["sections_s"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3] == ("C3 [in_domain]: long - short pass_at_k = +0.1250, 95% CI [+0.0500, +0.2000] -> reproduced "
                         "(2 seeds x 12 questions; on rungs k = 3, 4)")
    assert lines[-2].startswith("C3 [held_out_family] (secondary): ") and "-> mixed" in lines[-2]
    assert lines[-1].startswith("wall time by section (s): {'train'")


def test_finish_without_claims_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAML_OUTPUT_DIR", str(tmp_path))
    run = results.start("smoke", "00_world")
    results.finish(run, [], {"base": 1})
    assert json.loads((tmp_path / "metrics.json").read_text())["claims"] == []
    assert "00_world tests no claim" in capsys.readouterr().out


def test_a_notebook_reads_headroom_as_the_scoreboard_does(tmp_path, monkeypatch, capsys):
    """Notebook 07's mG-Pass@8 row of the fourth amendment's run: both arms at 0, CI [0, 0]. The CI rule alone says
    "not reproduced"; the headroom rule makes it inconclusive, as the scoreboard reports it."""
    from raml_utils.experiment import claims_table
    from raml_utils.params import load_profile

    profile = load_profile("cpu")
    chance = results.bounds(profile, "pass_at_k")[0]
    at_zero = a_claim(effect=0.0, lo=0.0, hi=0.0, verdict="not reproduced", a_mean=0.0, b_mean=0.0)
    verdict, reason = results.headroom_verdict(at_zero, profile)
    assert verdict == "inconclusive" and reason.startswith("no headroom: the arm predicted higher (a, mean 0.000)")
    assert results.headroom_verdict(a_claim(a_mean=0.6, b_mean=0.5), profile) == ("reproduced", None)
    below = a_claim(effect=-0.3, lo=-0.4, hi=-0.2, verdict="not reproduced", a_mean=chance, b_mean=0.4)
    verdict, reason = results.headroom_verdict(below, profile)  # a CI the other way stays, the reason is given
    assert verdict == "not reproduced" and reason.startswith("no headroom")
    unbounded = a_claim(metric="lhat_drop", verdict="mixed", a_mean=0.0, b_mean=0.0)
    assert results.headroom_verdict(unbounded, profile) == ("mixed", None)
    table = claims_table([at_zero, a_claim(a_mean=0.6, b_mean=0.5), below, unbounded], profile)
    assert list(table["CI rule"]) == ["not reproduced", "reproduced", "not reproduced", "mixed"]
    assert list(table.verdict) == ["inconclusive", "reproduced", "not reproduced", "mixed"]
    assert table.headroom[0].startswith("no headroom") and table.headroom[2].startswith("no headroom")
    assert list(table.headroom[[1, 3]]) == ["yes", "n/a"]
    monkeypatch.setenv("RAML_OUTPUT_DIR", str(tmp_path))
    run = results.start("cpu", "07_efficient_reasoning")
    results.finish(run, [at_zero], {})
    line = capsys.readouterr().out.splitlines()[-2]
    assert "-> inconclusive (no headroom: " in line and "; the CI rule alone: not reproduced)" in line
    assert json.loads((tmp_path / "metrics.json").read_text())["claims"][0]["verdict"] == "not reproduced"  # the
    # stored field stays the CI rule's: the scoreboard applies the whole decidability rule to it


def test_a_notebooks_headroom_verdict_is_the_scoreboards_without_failed_checks():
    """Over a grid of arm means and CIs on both sides of 0, ``results.headroom_verdict`` (what a notebook prints) and
    ``decidability.gated_verdict`` (what the scoreboard decides, no component check failing) agree."""
    import itertools

    from raml_utils import decidability
    from raml_utils.params import load_profile

    profile = load_profile("cpu")
    rule = results.contrast_plan("C10")
    for a_mean, b_mean, (lo, hi) in itertools.product((0.0, 0.08, 0.3, 0.98, 1.0), (0.0, 0.5, 0.99),
                                                     ((-0.2, -0.1), (-0.02, 0.02), (-0.1, 0.2), (0.05, 0.3))):
        claim = results.pre_registered("C10", [[a_mean]], [[b_mean]])
        claim = dataclasses.replace(claim, lo=lo, hi=hi, a_mean=a_mean, b_mean=b_mean,
                                    verdict=stats.verdict(0.0, lo, hi, rule["direction"], rule["margin"]))
        headroom, failed = decidability.undecidable_reasons(claim.to_dict(), "07_efficient_reasoning", rule, profile, [])
        assert results.headroom_verdict(claim, profile)[0] == decidability.gated_verdict(lo, hi, rule, headroom,
                                                                                          failed)[0]
