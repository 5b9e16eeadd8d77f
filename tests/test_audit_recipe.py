"""Audit (issue 16), recipes: every field is type- and range-checked when the recipe is read, before
any work, and the one-line error names the file and the field."""

from __future__ import annotations

import copy

import pytest

from tinycim.cli import main
from tinycim.errors import ConfigError, TinyCimError
from tinycim.pipeline.recipe import load_recipe, recipe_from_dict

TINY = {
    "name": "tiny",
    "model": "digits_cnn",
    "dataset": "digits",
    "phases": {
        "fp": {"epochs": 1, "lr": 0.01, "batch_size": 128},
        "hwa": {"epochs": 1, "lr": 0.003, "batch_size": 128, "preset": "pcm"},
    },
    "analog": {"preset": "pcm"},
    "drift": {"times": ["1s", "1d"], "instances": 2},
    "bits_sweep": [4, 8],
    "cost": {"accelerator": "aon-cim", "act_bits": [8]},
}
FP = {"epochs": 1, "lr": 0.1}


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"seed": 1.7}, "seed = 1.7"),  # was silently truncated to 1
        ({"seed": "3"}, "seed = '3'"),
        ({"seed": True}, "seed = True"),
        ({"seed": -1}, "seed = -1"),
        ({"analog": [1]}, "analog = [1]"),
        ({"analog": {"preset": 3}}, "analog.preset"),
        ({"analog": {"preset": "pcmx"}}, "analog: unknown preset 'pcmx'"),
        ({"analog": {"presett": "pcm"}}, "analog: unknown field(s) ['presett']"),
        ({"analog": {"overrides": {"fold_bn": "no"}}}, "fold_bn = 'no'"),  # was read as true
        ({"analog": {"overrides": [1]}}, "overrides = [1]"),
        ({"drift": "1d"}, "drift = '1d'"),
        ({"drift": {"times": "1d"}}, "drift.times"),
        ({"drift": {"times": ["1s", -5]}}, "drift.times"),
        ({"drift": {"instance": 3}}, "drift: unknown field(s) ['instance']"),
        ({"drift": {"instances": 10**12}}, "drift.instances = 1000000000000 needs about"),
        ({"cost": [1]}, "cost = [1]"),
        ({"cost": {"accelerator": "nope"}}, "cost.accelerator = 'nope'"),  # was found only after training
        ({"cost": {"act_bits": 8}}, "cost.act_bits = 8"),
        ({"cost": {"acc": 1}}, "cost: unknown field(s) ['acc']"),
        ({"bits_sweep": [True]}, "bits_sweep = True"),
        ({"model": "no_such_model"}, "model = 'no_such_model'"),
        ({"dataset": "no_such_data"}, "dataset = 'no_such_data'"),
        ({"model_kwargs": [1]}, "model_kwargs = [1]"),
        ({"model_kwargs": {"zzz": 1}}, "model_kwargs"),
        ({"dataset_options": "x"}, "dataset_options = 'x'"),
        ({"splits": {"train": 3}}, "splits.train = 3"),
        ({"splits": {"tran": "train"}}, "splits: unknown field(s) ['tran']"),
        ({"phases": {"fp": {"epochs": 1, "lr": "0.1"}}}, "field 'lr'"),
        ({"phases": {"fp": {"epochs": 1, "lr": float("inf")}}}, "phases.fp.lr = inf"),
        ({"phases": {"fp": {"epochs": 1, "lr": 0.1, "batch_size": True}}}, "phases.fp.batch_size = True"),
        ({"phases": {"fp": FP, "hwa": {**FP, "preset": "zzz"}}}, "phases.hwa: unknown HWA preset 'zzz'"),
        ({"phases": {"fp": FP, "hwa": {**FP, "overrides": [1]}}}, "phases.hwa.overrides = [1]"),
        ({"phases": {"fp": FP, "hwa": {**FP, "analog": [1]}}}, "phases.hwa.analog = [1]"),
        (
            {"phases": {"fp": FP, "hwa": {**FP, "analog": {"mapping": {"polarity": "tripolar"}}}}},
            "phases.hwa: mapping.polarity = 'tripolar'",
        ),
        ({"published": "x"}, "published = 'x'"),
        ({"published": [{"metric": "acc_1d", "value": "x"}]}, "published acc_1d: value = 'x'"),
        ({"published": [{"metric": "acc_1d", "value": float("nan")}]}, "published acc_1d: value = nan"),
        ({"description": [1]}, "description = [1]"),
        ({"full": [1]}, "full = [1]"),
    ],
)
def test_bad_recipe_fields_are_named_before_any_work(patch, field):
    with pytest.raises(ConfigError) as err:
        recipe_from_dict({**copy.deepcopy(TINY), **patch}, full=True, source="r.yaml")
    message = str(err.value)
    assert message.startswith("r.yaml: ") and field in message, message
    assert "\n" not in message


def test_an_integer_seed_is_kept_exactly():
    assert recipe_from_dict({**TINY, "seed": 12345}).seed == 12345
    assert recipe_from_dict(TINY).seed == 0


def test_tinycim_run_refuses_a_fractional_seed_in_one_line(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: t\nmodel: digits_cnn\ndataset: digits\nseed: 1.7\nphases:\n  fp: {epochs: 1, lr: 0.01}\n"
    )
    with pytest.raises(ConfigError, match=r"r\.yaml: seed = 1\.7 is invalid"):
        load_recipe(path)
    with pytest.raises(SystemExit) as stop:
        main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "seed = 1.7" in err and str(path) in err and "\n" not in err
    assert not (tmp_path / "out" / "steps").exists()  # refused before any work


def test_yaml_alias_bomb_in_a_recipe_ends_at_once(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TinyCimError, match="YAML aliases") as err:
        load_recipe(path)
    assert str(path) in str(err.value)
