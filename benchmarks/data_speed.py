"""Speech Commands MFCC extraction speed: cold (empty feature cache) and cached load.

    python benchmarks/data_speed.py --data-dir /path/to/speech_commands_v0.02_test \
        [--noise-dir /path/to/_background_noise_] [--split all]

Prints one JSON object. The cold time includes listing, decoding and MFCC of every clip (and
librosa's import, which a first real load also pays); the cached time is a second load of the
same split. A fresh temporary cache folder is used unless --cache-dir is given.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="Speech Commands folder or .tar.gz")
    parser.add_argument("--noise-dir", default=None, help="folder of _background_noise_ recordings")
    parser.add_argument("--split", default="all", choices=["train", "val", "test", "all"])
    parser.add_argument("--cache-dir", default=None, help="feature cache folder (default: a fresh temp dir)")
    args = parser.parse_args()

    import tinycim.data as data

    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or tmp
        opts = {"cache_dir": cache_dir, "noise_dir": args.noise_dir}
        start = time.perf_counter()
        cold = data.load("speech_commands", args.data_dir, args.split, **opts)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        cached = data.load("speech_commands", args.data_dir, args.split, **opts)
        cached_s = time.perf_counter() - start
    print(
        json.dumps(
            {
                "dataset": "speech_commands",
                "split": args.split,
                "clips": len(cold),
                "input_shape": list(cold.input_shape),
                "cold_extract_s": round(cold_s, 3),
                "cached_load_s": round(cached_s, 3),
                "same_features": bool((cold.x == cached.x).all()),
                "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
