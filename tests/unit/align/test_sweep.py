"""Alignment sweeps: every point's config is validated before anything runs, with messages that name the
setting; frontier points come from run summaries; the ``align.sweep`` job type and its presets are registered.
Nothing here trains a model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.align.configs import ALPHAALIGN_PRESETS, CRAFT_PRESETS, RATIONAL_PRESETS, AlphaAlignConfig
from core.align.sweep import NOT_SWEEPABLE, SweepConfig, frontier_point, point_configs
from core.errors import InputError


def test_unknown_setting_lists_the_sweepable_ones() -> None:
    with pytest.raises(InputError) as exc:
        point_configs(SweepConfig(method="rational", setting="sft_epoch", values=[1, 2, 3]))
    msg = str(exc.value)
    assert "rational has no setting 'sft_epoch'" in msg and "sweep one of:" in msg
    listed = set(msg.split("sweep one of:", 1)[1].strip().rstrip(".").split(", "))
    assert {"sft_epochs", "learning_rate", "max_steps"} <= listed
    assert listed.isdisjoint(NOT_SWEEPABLE)


def test_a_setting_that_changes_what_is_measured_is_not_sweepable() -> None:
    with pytest.raises(InputError) as exc:
        point_configs(SweepConfig(method="alphaalign", setting="model", values=["a", "b", "c"]))
    msg = str(exc.value)
    assert "'model'" in msg and "changes what is measured" in msg and "warm_start_epochs" in msg


@pytest.mark.parametrize("values", [[1.0, 2.0], [1, 2, 3, 4, 5, 6], []])
def test_three_to_five_values(values: list) -> None:
    with pytest.raises(ValidationError, match="3 to 5"):
        SweepConfig(values=values)


def test_values_must_differ() -> None:
    with pytest.raises(ValidationError, match="differ"):
        SweepConfig(values=[1.0, 1.0, 2.0])


def test_unknown_config_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        SweepConfig(settings="sft_epochs")  # type: ignore[call-arg]


def test_an_invalid_value_names_the_field() -> None:
    with pytest.raises(InputError) as exc:
        point_configs(SweepConfig(method="rational", setting="sft_epochs", values=[-1.0, 1.0, 2.0]))
    msg = str(exc.value)
    assert "-1.0" in msg and "sft_epochs" in msg and "greater than 0" in msg


def test_a_non_finite_value_is_rejected() -> None:
    with pytest.raises(InputError, match="not a finite number"):
        point_configs(
            SweepConfig(method="craft", setting="over_refusal_penalty", values=[0.0, 1.0, float("inf")])
        )


def test_an_invalid_override_names_its_field() -> None:
    cfg = SweepConfig(method="alphaalign", setting="warm_start_epochs", overrides={"max_steps": 0})
    with pytest.raises(InputError, match="max_steps"):
        point_configs(cfg)


def test_swept_and_overridden_is_an_error() -> None:
    cfg = SweepConfig(method="rational", setting="sft_epochs", overrides={"sft_epochs": 1.0})
    with pytest.raises(InputError, match="both swept and overridden; remove it from overrides"):
        point_configs(cfg)


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(InputError) as exc:
        point_configs(SweepConfig(method="craft", preset="tiny", setting="over_refusal_penalty"))
    assert "'tiny'" in str(exc.value) and "demo-cpu" in str(exc.value) and "full-gpu" in str(exc.value)


@pytest.mark.parametrize(
    ("method", "setting", "values", "presets"),
    [
        ("rational", "sft_epochs", [0.5, 1.0, 2.0], RATIONAL_PRESETS),
        ("alphaalign", "warm_start_epochs", [0.5, 1.0, 2.0, 4.0], ALPHAALIGN_PRESETS),
        ("craft", "over_refusal_penalty", [0.0, 0.5, 1.0, 1.5, 2.0], CRAFT_PRESETS),
    ],
)
def test_point_configs_vary_only_the_swept_setting(method, setting, values, presets) -> None:
    configs = point_configs(SweepConfig(method=method, preset="demo-cpu", setting=setting, values=values))
    assert len(configs) == len(values)
    assert [getattr(c, setting) for c in configs] == values
    ref = type(configs[0])(**presets["demo-cpu"])  # the preset itself
    for c in configs:
        others = {k: v for k, v in c.model_dump().items() if k != setting}
        assert others == {k: v for k, v in ref.model_dump().items() if k != setting}


def test_default_sweep_and_overrides_apply_to_every_point() -> None:
    cfg = SweepConfig()
    assert (cfg.method, cfg.preset, cfg.setting, len(cfg.values)) == ("rational", "demo-cpu", "sft_epochs", 3)
    configs = point_configs(
        SweepConfig(
            method="alphaalign", setting="warm_start_epochs", values=[1, 2, 3], overrides={"max_steps": 3}
        )
    )
    assert all(isinstance(c, AlphaAlignConfig) and c.max_steps == 3 for c in configs)
    assert [c.warm_start_epochs for c in configs] == [1, 2, 3]
    assert {c.warm_start_lr for c in configs} == {ALPHAALIGN_PRESETS["demo-cpu"]["warm_start_lr"]}


def test_frontier_point_reads_a_summary() -> None:
    summary = {
        "harmful_refusal_after": 0.8,
        "harmful_refusal_after_ci95": [0.6, 0.9],
        "over_refusal_after": 0.1,
        "over_refusal_after_ci95": [0.02, 0.3],
        "harmful_refusal_before": 0.2,
        "over_refusal_before": 0.05,
        "timings_s": {"total_s": 12.5, "audit_s": 3.0},
        "unrelated": 1,
    }
    assert frontier_point(2.0, summary) == {
        "value": 2.0,
        "harmful_refusal": 0.8,
        "harmful_refusal_ci95": [0.6, 0.9],
        "over_refusal": 0.1,
        "over_refusal_ci95": [0.02, 0.3],
        "harmful_refusal_before": 0.2,
        "over_refusal_before": 0.05,
        "wall_s": 12.5,
        "holdout": None,
    }
    summary["holdout_readout"] = {
        "auroc": 0.97,
        "refused": {"0": {"harmful": 0.9, "benign_counterpart": 0.04, "borderline": 0.08}, "1": {}},
    }
    assert frontier_point(2.0, summary)["holdout"] == {
        "auroc": 0.97,
        "harmful": 0.9,
        "benign_counterpart": 0.04,
        "borderline": 0.08,
    }
    empty = frontier_point("x", {})
    assert empty["value"] == "x" and all(v is None for k, v in empty.items() if k != "value")
    assert frontier_point(1, {"timings_s": None})["wall_s"] is None


def test_the_sweep_job_type_is_registered_and_its_presets_validate() -> None:
    import core.align.jobs  # noqa: F401 - registers the alignment job types
    from core.jobs.registry import ConfigError, get_job_type, job_types

    jt = get_job_type("align.sweep")
    assert "align.sweep" in job_types()
    assert jt.config_model is SweepConfig and jt.key_metric == "frontier/harmful_refusal"
    assert jt.module == "core.align.jobs"
    assert set(jt.presets) == {"rational-epochs", "alphaalign-warmstart", "craft-over-refusal"}
    for name in jt.presets:
        cfg = jt.config_for(preset=name)
        assert isinstance(cfg, SweepConfig)
        configs = point_configs(cfg)  # every preset's points are valid method configs too
        assert [getattr(c, cfg.setting) for c in configs] == cfg.values
    with pytest.raises(ConfigError, match="values"):
        jt.config_for(preset="rational-epochs", overrides={"values": [1.0]})
