"""The real evaluator (tinycim.train + tinycim.cost) on a tiny random task, and the Ray executor."""

from __future__ import annotations

import os

import pytest
import torch

from tinycim.data import Dataset
from tinycim.nas import (
    Constraints,
    EvalSettings,
    ResultStore,
    Search,
    SearchConfig,
    TinyMLSpace,
    TrainEvaluator,
    UnipolarSpace,
    make_executor,
)


pytestmark = pytest.mark.usefixtures("one_thread_module")


def _data(n=96, shape=(3, 16), classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, *shape, generator=g) * 0.3 + y.view(-1, 1, 1).float()  # separable by the mean
    return Dataset(x, y, classes=[str(c) for c in range(classes)], name="toy", split="train")


SETTINGS = EvalSettings(fp_epochs=1, epochs=1, batch_size=32, instances=2)


def test_train_evaluator_measures_drift_and_cost_and_saves_a_loadable_run(tmp_path):
    from tinycim.train import load_run

    space = TinyMLSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    ev = TrainEvaluator(space, _data(), _data(48, seed=1), SETTINGS, runs_dir=tmp_path)
    arch = {"layers": [{"channels": 8, "kernel": 3, "stride": 2}]}
    static = ev.static(arch)
    assert static["params"] == space.count_params(arch) and static["energy_j"] > 0 and static["area_mm2"] > 0
    metrics = ev({"arch": arch, "seed": 5})
    for key in ("acc_fp", "acc_1s", "acc_1h", "acc_1d", "acc_30d", "std_1d", "avm"):
        assert key in metrics and metrics[key] == metrics[key]  # present, not NaN
    assert metrics["avm"] == pytest.approx(metrics["acc_1s"] - metrics["acc_30d"])
    (run,) = list(tmp_path.iterdir())
    model, _hwa, _analog, meta = load_run(run)
    assert meta["extra"]["nas"]["arch"] == arch


def test_unipolar_layers_cut_devices_and_keep_their_sign(tmp_path):
    space = UnipolarSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    ev = TrainEvaluator(space, _data(), _data(48, seed=1), SETTINGS)
    base = {"channels": 8, "kernel": 3, "stride": 1}
    diff = {"layers": [{**base, "polarity": "differential"}] * 2}
    uni = {"layers": [{**base, "polarity": "positive"}, {**base, "polarity": "differential"}]}
    assert ev.static(uni)["devices"] < ev.static(diff)["devices"]
    assert ev.static(uni)["energy_j"] < ev.static(diff)["energy_j"]
    import dataclasses

    from tinycim.config import AnalogConfig
    from tinycim.nas.evaluator import polarity_overrides
    from tinycim.train import prepare

    hw = dataclasses.replace(
        AnalogConfig.preset("pcm"), fold_bn=False, layers=polarity_overrides(space.layer_polarities(uni))
    )
    prepared = prepare(space.build(uni), "pcm", hw)
    assert float(prepared.features[0][0].weight.detach().min()) >= 0
    assert prepared.features[0][0].analog_config.mapping.polarity == "unipolar"
    assert prepared.features[1][0].analog_config.mapping.polarity == "differential"


def test_unipolar_alignment_keeps_magnitudes_and_makes_half_the_columns_inhibitory():
    """A layer trained one-signed from its initializer: sign x |w| (projection would zero about half
    the weights) and every other channel of its BatchNorm negative (the digital column sign)."""
    import dataclasses

    from tinycim.config import AnalogConfig
    from tinycim.nas.evaluator import polarity_overrides
    from tinycim.train import HWAConfig, prepare

    space = UnipolarSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    base = {"channels": 8, "kernel": 3, "stride": 1}
    arch = {"layers": [{**base, "polarity": "negative"}, {**base, "polarity": "differential"}]}
    torch.manual_seed(0)
    model = space.build(arch)
    before = [layer[0].weight.detach().clone() for layer in model.features]
    hw = dataclasses.replace(
        AnalogConfig.preset("ideal"), fold_bn=False, layers=polarity_overrides(space.layer_polarities(arch))
    )
    prepared = prepare(model, HWAConfig(unipolar_init="magnitude"), hw)
    first, second = prepared.features[0], prepared.features[1]
    assert torch.equal(first[0].weight.detach(), -before[0].abs())
    assert torch.equal(second[0].weight.detach(), before[1])  # differential layer untouched
    assert (first[1].weight.detach()[1::2] < 0).all() and (first[1].weight.detach()[0::2] > 0).all()
    assert (second[1].weight.detach() > 0).all()


def test_unipolar_candidate_trains_one_signed_and_learns(tmp_path):
    """End to end: a positive-only first layer stays >= 0 through FP and HWA training, and the
    candidate learns the toy task (3 classes: chance is 33 %)."""
    from tinycim.train import load_run

    space = UnipolarSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    settings = EvalSettings(fp_epochs=10, epochs=1, batch_size=32, instances=2)
    ev = TrainEvaluator(space, _data(), _data(48, seed=1), settings, runs_dir=tmp_path)
    arch = {
        "layers": [
            {"channels": 8, "kernel": 3, "stride": 1, "polarity": "positive"},
            {"channels": 8, "kernel": 3, "stride": 2, "polarity": "differential"},
        ]
    }
    metrics = ev({"arch": arch, "seed": 3})
    assert metrics["acc_fp"] > 60 and metrics["acc_1d"] > 60
    (run,) = list(tmp_path.iterdir())
    model, hwa, analog, _ = load_run(run)
    assert float(model.features[0][0].weight.detach().min()) >= 0
    from tinycim.nn.convert import analog_layers
    from tinycim.train import to_analog

    mappings = {n: layer.analog_config.mapping for n, layer in analog_layers(to_analog(model, analog))}
    assert (mappings["features.0.0"].polarity, mappings["features.0.0"].unipolar_sign) == (
        "unipolar",
        "positive",
    )
    assert mappings["features.1.0"].polarity == "differential" == mappings["head.2"].polarity


@pytest.mark.skipif(
    not os.environ.get("TINYCIM_TEST_RAY"),
    reason="starts a Ray instance (10-30 s on a busy 2-core box); set TINYCIM_TEST_RAY=1",
)
def test_ray_executor_runs_a_search_like_local(tmp_path):
    from tinycim.nas import SyntheticEvaluator

    space = TinyMLSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    results = {}
    for kind in ("local", "ray"):
        runner = make_executor(kind, num_cpus=1)
        s = Search(
            space,
            SyntheticEvaluator(space),
            Constraints(max_params=2000),
            None,
            runner,
            SearchConfig(trials=6, init=4, batch=2, population=2, mutants_per_parent=4),
        )
        s.store = ResultStore(tmp_path / kind, s.settings())
        try:
            results[kind] = s.run_evolution()
        finally:
            runner.close()
    assert [r["key"] for r in results["ray"].records] == [r["key"] for r in results["local"].records]


def test_several_training_seeds_label_a_candidate_with_their_mean():
    """EvalSettings.seeds = 2: the label is the mean of the runs with seed and seed + 1 (less label
    noise); each run is the same as evaluating that seed alone."""
    import dataclasses

    space = TinyMLSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    arch = {"layers": [{"channels": 4, "kernel": 3, "stride": 2}]}
    one = TrainEvaluator(space, _data(), _data(48, seed=1), SETTINGS)
    runs = [one({"arch": arch, "seed": s}) for s in (5, 6)]
    two = TrainEvaluator(space, _data(), _data(48, seed=1), dataclasses.replace(SETTINGS, seeds=2))
    mean = two({"arch": arch, "seed": 5})
    assert mean["acc_1d_runs"] == pytest.approx([r["acc_1d"] for r in runs])
    for key in ("acc_fp", "acc_1d", "std_1d", "avm"):
        assert mean[key] == pytest.approx((runs[0][key] + runs[1][key]) / 2)
    assert "seeds" not in SETTINGS.to_dict() and two.settings.to_dict()["seeds"] == 2


def test_seeded_build_draws_init_from_its_seed_and_leaves_the_global_rng_alone():
    from tinycim.nas import seeded_build

    space = TinyMLSpace((2, 16), 3)
    arch = {"layers": [{"channels": 8, "kernel": 3, "stride": 1}]}
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = (seeded_build(lambda: space.build(arch), s) for s in (7, 7, 8))
    assert torch.equal(torch.random.get_rng_state(), before)
    wa, wb, wc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_static_figures_do_not_depend_on_the_global_rng():
    """The cost model reads the weights; static() costs a model built from a seed fixed by the arch,
    so two fresh searches (and a resumed one) print the same candidate energies."""
    space = TinyMLSpace((3, 16), 3, widths=(4, 8), max_layers=2)
    arch = {"layers": [{"channels": 8, "kernel": 3, "stride": 1}]}
    ev = TrainEvaluator(space, None, None, SETTINGS)
    figures = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        figures.append(ev.static(arch))
    assert figures[0] == figures[1] and figures[0]["energy_j"] > 0
    before = torch.random.get_rng_state()
    ev.static(arch)
    assert torch.equal(torch.random.get_rng_state(), before)
