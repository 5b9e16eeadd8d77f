"""NAS vs random search vs the hand-designed zoo model on real HAR (UCI HAPT), 1-day PCM accuracy.

    python benchmarks/nas_search.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz --trials 40 --minutes 30

Both searches train the same number of candidates with the same short recipe (FP pre-training +
HWA fine-tuning, drift at 1 s / 1 h / 1 day / 30 days over K chips on the validation subjects) under
the parameter budget of ``har_cnn`` and AVM < T. They share one store, so the NAS's random initial
population (the first ``init`` draws of the same seeded stream) is trained once. The winners and
``har_cnn`` (same recipe, two training seeds) are then measured on the held-out test subjects.
Surrogate Kendall tau: 5-fold cross-validation over every trained candidate.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from tinycim.data import load
from tinycim.models import count_params, create_model
from tinycim.nas import (
    Constraints,
    EvalSettings,
    ResultStore,
    Search,
    SearchConfig,
    TinyMLSpace,
    TrainEvaluator,
    cross_val_tau,
    features,
    make_executor,
    record_value,
)
from tinycim.nas.evaluator import DRIFT_TIMES, drift_metrics
from tinycim.nas.report import run_dir_name
from tinycim.nas.store import write_json_atomic


def test_metrics(run_dir: Path, test_ds, instances: int, seed: int) -> dict:
    """Reload a saved candidate run and measure its drift on the test subjects."""
    from tinycim.train import evaluate_drift, load_run, to_analog

    model, _hwa, analog, _meta = load_run(run_dir)
    dr = evaluate_drift(to_analog(model, analog), test_ds, times=list(DRIFT_TIMES.values()),
                        instances=instances, seed=seed)
    return drift_metrics(dr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock cap of the evolutionary search")
    ap.add_argument("--out", default="runs/nas_benchmark")
    ap.add_argument("--executor", default="ray", choices=["ray", "local"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--test-instances", type=int, default=8)
    ap.add_argument("--max-avm", type=float, default=3.0, help="AVM threshold T in accuracy points")
    ap.add_argument("--retest", type=int, default=0, help="retrain N random candidates with another seed")
    args = ap.parse_args()

    t0 = time.monotonic()
    train = load("hapt", args.data_dir, "train", seed=args.seed)
    val = load("hapt", args.data_dir, "val", seed=args.seed)
    test = load("hapt", args.data_dir, "test", seed=args.seed)
    budget = count_params(create_model("har_cnn"))
    space = TinyMLSpace(train.input_shape, len(train.classes))
    settings = EvalSettings(instances=args.instances)
    out = Path(args.out)
    evaluator = TrainEvaluator(space, train, val, settings, runs_dir=out / "runs")
    constraints = Constraints(max_params=budget, max_avm=args.max_avm)
    config = SearchConfig(trials=args.trials, seed=args.seed, population=8, init=16, batch=4,
                          mutants_per_parent=16)
    executor = make_executor(args.executor, num_cpus=2)
    results = {}
    try:
        # Evolution first under the time cap; random search then trains exactly as many candidates, so
        # the comparison is at an equal number of trained candidates whatever the machine's load.
        for mode in ("evolution", "random"):
            cfg = config if mode == "evolution" else dataclasses.replace(
                config, trials=len(results["evolution"].records))
            search = Search(space, evaluator, constraints, None, executor, cfg,
                            deadline=time.monotonic() + 60 * args.minutes if mode == "evolution" else None,
                            progress=lambda d, t, b, m=mode: print(
                                f"[{m}] {d}/{t} best acc_1d="
                                f"{record_value(b, 'acc_1d') if b else float('nan'):.2f}",
                                flush=True))
            search.store = ResultStore(out / "store", search.settings())
            results[mode] = getattr(search, f"run_{mode}")()
            print(f"{mode}: {len(results[mode].records)} candidates ({results[mode].evaluated} trained now), "
                  f"{(time.monotonic() - t0) / 60:.1f} min elapsed", flush=True)
        retest_tau = None
        if args.retest:
            uniform = results["random"].records[: args.retest]  # uniform samples of the space
            retest_tau = retest(evaluator, executor, uniform, args.seed, out / "retest")
    finally:
        executor.close()

    rows = list(ResultStore(out / "store").records.values())
    X = np.stack([features(space, r["arch"], r["static"]) for r in rows])
    tau = cross_val_tau(X, {k: [record_value(r, k) for r in rows] for k in ("acc_1d", "avm", "std_1d")},
                        folds=5, seed=args.seed)

    table = []
    for mode in ("random", "evolution"):
        best = results[mode].best
        tm = test_metrics(out / "runs" / run_dir_name(best["key"]), test, args.test_instances, seed=1)
        table.append(row(f"best of {mode}", evaluator.static(best["arch"]), record_value(best, "acc_1d"), tm,
                         len(results[mode].records), best["arch"]))
    for seed in (1, 2):
        vm, tm = baseline(evaluator, test, args.test_instances, seed, out / f"har_cnn_seed{seed}.json")
        zoo = create_model("har_cnn")
        static = {**evaluator.static_model(zoo), "params": count_params(zoo)}
        table.append(row(f"har_cnn (seed {seed})", static, vm["acc_1d"], tm, 1, "zoo"))
    print(f"\nHAR (UCI HAPT, subject split), budget {budget:,} params, AVM < {args.max_avm}, "
          f"recipe {settings.fp_epochs} FP + {settings.epochs} HWA epochs, K={args.instances} (val) / "
          f"{args.test_instances} (test); total {(time.monotonic() - t0) / 60:.1f} min")
    print(f"{'model':<22} {'params':>8} {'E (nJ)':>8} {'val 1d':>7} {'test 1d':>8} {'std':>5} {'AVM':>6} "
          f"{'trained':>7}")
    for r in table:
        print(f"{r['model']:<22} {r['params']:>8,} {r['energy_nj']:>8.1f} {r['val_acc_1d']:>7.2f} "
              f"{r['test_acc_1d']:>8.2f} {r['test_std_1d']:>5.2f} {r['test_avm']:>6.2f} {r['trained']:>7}")
    print("surrogate Kendall tau (5-fold CV, %d candidates): %s" % (
        len(rows), ", ".join(f"{k} {v:.3f}" for k, v in tau.items())))
    if retest_tau is not None:
        print(f"noise ceiling: Kendall tau of acc_1d between two training seeds of the same {args.retest} "
              f"random candidates: {retest_tau:.3f}")
    summary = {"table": table, "tau": tau, "retest_tau": retest_tau, "candidates": len(rows)}
    (out / "benchmark.json").write_text(json.dumps(summary, indent=2))


def row(name: str, static: dict, val_acc: float, tm: dict, trained: int, arch) -> dict:
    """One line of the table; energy from the cost model as it is now (the same code for every row)."""
    return {"model": name, "params": static["params"],
            "energy_nj": static["energy_j"] * 1e9, "val_acc_1d": val_acc, "test_acc_1d": tm["acc_1d"],
            "test_std_1d": tm["std_1d"], "test_avm": tm["avm"], "trained": trained, "arch": arch}


def baseline(evaluator: TrainEvaluator, test, instances: int, seed: int, cache: Path) -> tuple[dict, dict]:
    """har_cnn trained with the candidates' recipe; (val metrics, test metrics), cached as JSON."""
    if cache.is_file():
        saved = json.loads(cache.read_text())
        return saved["val"], saved["test"]
    from tinycim.train import evaluate_drift, to_analog

    vm, art = evaluator.train_and_measure(create_model("har_cnn"), seed)
    dr = evaluate_drift(to_analog(art["prepared"], art["analog"]), test, times=list(DRIFT_TIMES.values()),
                        instances=instances, seed=1)
    tm = drift_metrics(dr)
    write_json_atomic(cache, {"val": vm, "test": tm})
    return vm, tm


def retest(evaluator: TrainEvaluator, executor, records: list[dict], seed: int, out: Path) -> float:
    """Kendall tau of acc_1d between the stored run and a retraining with another seed: how well ANY
    predictor can rank these candidates, given the noise of one short training run."""
    from tinycim.nas import kendall_tau

    store = ResultStore(out, {"retest_of": "store", "seed_offset": 1})
    todo = [r for r in records if r["key"] not in store]
    tasks = [{"arch": r["arch"], "seed": (r["seed"] + 1) % 2**32} for r in todo]
    for i, metrics in executor.map(TrainEvaluator(evaluator.space, evaluator.train_ds, evaluator.val_ds,
                                                  evaluator.settings), tasks):
        store.add({"key": todo[i]["key"], "arch": todo[i]["arch"], "seed": tasks[i]["seed"],
                   "metrics": metrics})
    first = [record_value(r, "acc_1d") for r in records]
    second = [record_value(store.get(r["key"]), "acc_1d") for r in records]
    return kendall_tau(first, second)

if __name__ == "__main__":
    main()
