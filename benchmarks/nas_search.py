"""NAS vs random search vs the hand-designed zoo model on real HAR or KWS data, 1-day PCM accuracy.

    python benchmarks/nas_search.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz --trials 40 --minutes 30
    python benchmarks/nas_search.py --task kws --data-dir /work/shared/data/speech_commands_v0.02_test \
        --trials 200 --minutes 60 --fp-epochs 20 --epochs 5 --lr 1e-2 --confirm 3 --final-seeds 5

Both searches train the same number of candidates with the same short recipe (FP pre-training +
HWA fine-tuning, drift at 1 s / 1 h / 1 day / 30 days over K chips on the validation subjects or
speakers) under the parameter budget of the task's zoo model (``har_cnn`` for HAR, the MLPerf Tiny
DS-CNN ``dscnn_s`` for KWS, both with the digital input standardization the candidates get) and
AVM < T. They share one store, so the NAS's random initial population (the first ``init`` draws of
the same seeded stream) is trained once. The winners and the zoo model (same recipe, several
training seeds) are then measured on the held-out test subjects / speakers.
Surrogate Kendall tau: 5-fold cross-validation over every trained candidate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from tinycim.data import dataset_info, load, split_record
from tinycim.models import count_params, create_model
from tinycim.nas import (
    Constraints,
    EvalSettings,
    ResultStore,
    Search,
    SearchConfig,
    TinyMLSpace,
    TrainEvaluator,
    confirm_best,
    cross_val_tau,
    features,
    kendall_tau,
    make_executor,
    record_value,
    reevaluate,
    seeded_build,
)


#: task -> (dataset, loader options, zoo model and its options); candidates use the dataset's input_norm
TASKS = {
    "har": ("hapt", {}, ("har_cnn", {"input_norm": True})),
    # split by speaker: a speaker in train and val would inflate every candidate's accuracy
    "kws": ("speech_commands", {"split_by": "speaker"}, ("dscnn_s", {"input_norm": True})),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="har", choices=sorted(TASKS))
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
    ap.add_argument("--final-seeds", type=int, default=3, help="training seeds per finalist on the test set")
    ap.add_argument(
        "--label-seeds", type=int, default=1, help="training runs per candidate label (their mean)"
    )
    ap.add_argument("--fp-epochs", type=int, default=EvalSettings.fp_epochs, help="FP epochs per candidate")
    ap.add_argument("--epochs", type=int, default=EvalSettings.epochs, help="HWA epochs per candidate")
    ap.add_argument("--lr", type=float, default=EvalSettings.lr, help="FP learning rate (HWA: a quarter)")
    ap.add_argument(
        "--confirm",
        type=int,
        default=0,
        help="retrain each search's top N (by label) --confirm-rounds more times on the validation "
        "subjects and pick the best mean (tinycim.nas.confirm_best); 0: the best label wins",
    )
    ap.add_argument("--confirm-rounds", type=int, default=1)
    ap.add_argument(
        "--raw-input",
        action="store_true",
        help="candidates without input_norm (raw sensor signals into the first analog layer; "
        "the first benchmark run)",
    )
    args = ap.parse_args()

    t0 = time.monotonic()
    dataset, data_opts, (zoo_name, zoo_kwargs) = TASKS[args.task]
    input_norm = dataset_info(dataset).input_norm
    if args.raw_input:
        # the zoo model raw too (har_cnn standardizes its input by default since issue 15)
        zoo_kwargs, input_norm = {"input_norm": False}, False
    train, val, test = (
        load(dataset, args.data_dir, split, seed=args.seed, **data_opts) for split in ("train", "val", "test")
    )
    zoo = (zoo_name, {"num_classes": len(train.classes), **zoo_kwargs})
    budget = count_params(create_model(zoo[0], **zoo[1]))
    space = TinyMLSpace(train.input_shape, len(train.classes), input_norm=input_norm)
    settings = EvalSettings(
        instances=args.instances,
        seeds=args.label_seeds,
        fp_epochs=args.fp_epochs,
        epochs=args.epochs,
        lr=args.lr,
    )
    out = Path(args.out)
    evaluator = TrainEvaluator(
        space, train, val, settings, runs_dir=out / "runs", data=split_record(dataset, data_opts, args.seed)
    )
    constraints = Constraints(max_params=budget, max_avm=args.max_avm)
    config = SearchConfig(
        trials=args.trials, seed=args.seed, population=8, init=16, batch=4, mutants_per_parent=16
    )
    executor = make_executor(args.executor, num_cpus=2)
    results = {}
    try:
        # Evolution first under the time cap; random search then trains exactly as many candidates, so
        # the comparison is at an equal number of trained candidates whatever the machine's load.
        for mode in ("evolution", "random"):
            cfg = (
                config
                if mode == "evolution"
                else dataclasses.replace(config, trials=len(results["evolution"].records))
            )
            search = Search(
                space,
                evaluator,
                constraints,
                out / "store",
                executor,
                cfg,
                deadline=time.monotonic() + 60 * args.minutes if mode == "evolution" else None,
                progress=lambda d, t, b, m=mode: print(
                    f"[{m}] {d}/{t} best acc_1d={record_value(b, 'acc_1d') if b else float('nan'):.2f}",
                    flush=True,
                ),
            )
            results[mode] = getattr(search, f"run_{mode}")()
            print(
                f"{mode}: {len(results[mode].records)} candidates ({results[mode].evaluated} trained now), "
                f"{(time.monotonic() - t0) / 60:.1f} min elapsed",
                flush=True,
            )
        retest_tau = None
        if args.retest:
            uniform = results["random"].records[: args.retest]  # uniform samples of the space
            retest_tau = retest(evaluator, executor, uniform, out / "reevaluated")
        picks = {mode: results[mode].best for mode in results}
        if args.confirm:  # both searches' top candidates get the same extra training runs
            picks = {
                mode: confirm_best(
                    results[mode].records,
                    evaluator,
                    executor,
                    constraints,
                    out / "reevaluated",
                    top=args.confirm,
                    rounds=args.confirm_rounds,
                )
                for mode in results
            }
            for mode, pick in picks.items():
                print(
                    f"{mode}: confirmed winner {pick['key']}: label {record_value(pick, 'acc_1d'):.2f}, "
                    f"runs {[round(v, 2) for v in pick['confirmed']['runs']]}",
                    flush=True,
                )
            print(f"confirmation done, {(time.monotonic() - t0) / 60:.1f} min elapsed", flush=True)
        finalists = {
            "best of random": picks["random"]["arch"],
            "best of evolution": picks["evolution"]["arch"],
            zoo_name: zoo,
        }
        final = final_eval(
            space,
            train,
            test,
            settings,
            args.test_instances,
            executor,
            finalists,
            range(1, args.final_seeds + 1),
            out / "final",
        )
    finally:
        executor.close()

    rows = list(ResultStore(out / "store").records.values())
    X = np.stack([features(space, r["arch"], r["static"]) for r in rows])
    labels = {k: [record_value(r, k) for r in rows] for k in ("acc_1d", "avm", "std_1d")}
    tau = cross_val_tau(X, labels, folds=5, seed=args.seed)
    # Scored on the random search's candidates only (a uniform sample of the space), with every
    # evolution mutant as extra training data: the held-out set AnalogNAS-style benchmarks report.
    uniform = {r["key"] for r in results["random"].records}
    tau_uniform = cross_val_tau(
        X, labels, folds=5, seed=args.seed, held_out=[r["key"] in uniform for r in rows]
    )

    table = []
    for name, arch in finalists.items():
        runs = final[name]
        acc = np.array([m["acc_1d"] for m in runs])
        mode = name.split()[-1]
        model = build_finalist(space, arch)
        table.append(
            {
                "model": name,
                "params": count_params(model),
                "energy_nj": evaluator.static_model(model)["energy_j"] * 1e9,
                "val_acc_1d": (
                    picks[mode].get("confirmed", {}).get("acc_1d", record_value(picks[mode], "acc_1d"))
                    if mode in picks
                    else None
                ),
                "test_acc_fp": float(np.mean([m["acc_fp"] for m in runs])),
                "test_acc_1d": float(acc.mean()),
                "test_seed_sd": float(acc.std(ddof=1)),
                "test_chip_std": float(np.mean([m["std_1d"] for m in runs])),
                "test_avm": float(np.mean([m["avm"] for m in runs])),
                "test_runs": [float(a) for a in acc],
                "trained": len(results[mode].records) if mode in results else 0,
                "arch": arch,
            }
        )
    print(
        f"\n{args.task} ({dataset}, held-out {'speakers' if args.task == 'kws' else 'subjects'}), "
        f"budget {budget:,} params ({zoo_name}), AVM < {args.max_avm}, lr {settings.lr}, "
        f"recipe {settings.fp_epochs} FP + {settings.epochs} HWA epochs, K={args.instances} (val) / "
        f"{args.test_instances} (test); total {(time.monotonic() - t0) / 60:.1f} min"
    )
    print(f"test = mean over {args.final_seeds} training seeds (+- their sd); chip std = over K chips")
    print(
        f"{'model':<18} {'params':>7} {'E (nJ)':>7} {'val 1d':>7} {'test FP':>7} {'test 1d':>14} {'chip std':>8} "
        f"{'AVM':>5} {'trained':>7}"
    )
    for r in table:
        val = f"{r['val_acc_1d']:.2f}" if r["val_acc_1d"] is not None else "-"
        print(
            f"{r['model']:<18} {r['params']:>7,} {r['energy_nj']:>7.1f} {val:>7} {r['test_acc_fp']:>7.2f} "
            f"{r['test_acc_1d']:>7.2f} +- {r['test_seed_sd']:.2f} {r['test_chip_std']:>8.2f} "
            f"{r['test_avm']:>5.2f} {r['trained']:>7}"
        )
    tests = welch_tests(table, "best of evolution")
    for t in tests:
        print(
            f"best of evolution vs {t['vs']}: {t['diff']:+.2f} pp at 1 day over {t['n']} seeds, Welch t {t['t']:.2f}, "
            f"p {t['p']:.3f} (two-sided), 95 % CI of the difference [{t['ci'][0]:+.2f}, {t['ci'][1]:+.2f}]"
        )
    print(
        "surrogate Kendall tau (5-fold CV, %d candidates): %s"
        % (len(rows), ", ".join(f"{k} {v:.3f}" for k, v in tau.items()))
    )
    print(
        "surrogate Kendall tau on the %d random-search candidates (5-fold; mutants always train): %s"
        % (len(uniform), ", ".join(f"{k} {v:.3f}" for k, v in tau_uniform.items()))
    )
    ceiling = label_ceiling(rows)
    if ceiling:
        print(
            "label reliability from the %(n)d labels' own training runs: run-vs-run Kendall tau %(tau_runs).3f, "
            "Pearson r %(r_runs).3f; reliability of the %(k)d-run mean %(reliability).3f; best tau any surrogate "
            "can reach against such labels (a perfect predictor, bivariate normal) %(tau_ceiling).3f"
            % ceiling
        )
    if retest_tau is not None:
        print(
            f"noise ceiling: Kendall tau of acc_1d between the labels of the same {args.retest} random candidates "
            f"and one more evaluation of each with seeds the labels did not use: {retest_tau:.3f}"
        )
    summary = {
        "table": table,
        "welch": tests,
        "tau": tau,
        "tau_uniform": tau_uniform,
        "label_ceiling": ceiling,
        "retest_tau": retest_tau,
        "candidates": len(rows),
    }
    (out / "benchmark.json").write_text(json.dumps(summary, indent=2))


def build_finalist(space: TinyMLSpace, spec) -> torch.nn.Module:
    """A finalist's network: an arch of the space (a dict), or a zoo model ``(name, kwargs)``."""
    if isinstance(spec, dict):
        return space.build(spec)
    return create_model(spec[0], **spec[1])


class FinalRun:
    """One training run of a finalist (arch or zoo model) with the search's recipe, drift measured
    on the test split; a picklable callable for the executor (as ``TrainEvaluator`` is)."""

    def __init__(self, evaluator: TrainEvaluator):
        self.evaluator = evaluator

    def __call__(self, task: dict) -> dict:
        torch.set_num_threads(self.evaluator.settings.threads)
        model = seeded_build(lambda: build_finalist(self.evaluator.space, task["spec"]), task["seed"])
        return self.evaluator.train_and_measure(model, task["seed"])[0]


def final_eval(space, train, test, settings, instances, executor, finalists: dict, seeds, out: Path) -> dict:
    """Retrain each finalist with every seed and measure drift on the test split (K = ``instances``);
    results cached as JSON lines, so a rerun only trains what is missing."""
    # one training run per (finalist, seed): the seeds are the repetitions here
    ev = TrainEvaluator(space, train, test, dataclasses.replace(settings, instances=instances, seeds=1))
    store = ResultStore(out, {"final": "test", "settings": ev.settings.to_dict()})

    def key(name: str, seed: int) -> str:
        return f"{name}:{seed}:{json.dumps(finalists[name], sort_keys=True)}"

    tasks = [{"spec": spec, "seed": seed, "name": name} for name, spec in finalists.items() for seed in seeds]
    tasks = [t for t in tasks if key(t["name"], t["seed"]) not in store]
    for i, metrics in executor.map(FinalRun(ev), tasks):
        t = tasks[i]
        store.add(
            {"key": key(t["name"], t["seed"]), "arch": t["spec"], "seed": t["seed"], "metrics": metrics}
        )
    return {name: [store.get(key(name, seed))["metrics"] for seed in seeds] for name in finalists}


def welch_tests(table: list[dict], name: str) -> list[dict]:
    """Welch's unequal-variance t-test of ``name``'s test runs against each other finalist's (the
    training seeds are the samples; seeds are not paired across different networks)."""
    from scipy import stats

    runs = {r["model"]: np.array(r["test_runs"]) for r in table}
    a, out = runs[name], []
    for other, b in runs.items():
        if other == name or len(a) < 2 or len(b) < 2:
            continue
        res = stats.ttest_ind(a, b, equal_var=False)
        ci = res.confidence_interval(0.95)
        out.append(
            {
                "vs": other,
                "n": len(a),
                "diff": float(a.mean() - b.mean()),
                "t": float(res.statistic),
                "p": float(res.pvalue),
                "ci": [float(ci.low), float(ci.high)],
            }
        )
    return out


def label_ceiling(rows: list[dict]) -> dict | None:
    """How far a label can be trusted, from the runs it averages (``acc_1d_runs``, label seeds >= 2):
    the correlation r of two single runs of the same candidates, the Spearman-Brown reliability
    k r / (1 + (k - 1) r) of their k-run mean, and the Kendall tau that a predictor knowing each
    candidate's true accuracy would reach against such labels, (2 / pi) asin(sqrt(reliability))
    (Greiner's relation for a bivariate normal). No surrogate can be expected above it."""
    from scipy.stats import kendalltau, pearsonr

    runs = np.array([r["metrics"]["acc_1d_runs"] for r in rows if r["metrics"].get("acc_1d_runs")])
    if len(runs) < 4:
        return None
    k = runs.shape[1]
    r = float(pearsonr(runs[:, 0], runs[:, 1]).statistic)
    reliability = max(k * r / (1 + (k - 1) * r), 0.0)
    return {
        "n": len(runs),
        "k": k,
        "tau_runs": float(kendalltau(runs[:, 0], runs[:, 1]).statistic),
        "r_runs": r,
        "reliability": reliability,
        "tau_ceiling": float(2 / np.pi * np.arcsin(np.sqrt(reliability))),
    }


def retest(evaluator: TrainEvaluator, executor, records: list[dict], store: Path) -> float:
    """Kendall tau of acc_1d between each label and one more evaluation with seeds the label did not
    use (tinycim.nas.reevaluate): how well ANY predictor can rank these candidates."""
    more = reevaluate(records, evaluator, executor, store)
    return kendall_tau(
        [record_value(r, "acc_1d") for r in records],
        [record_value(more[r["key"]][0], "acc_1d") for r in records],
    )


if __name__ == "__main__":
    main()
