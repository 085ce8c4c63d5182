#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Optuna as a kpilot external optimizer (Documentation/tuning.md, "External
optimizers"):

    kpilot tune --profile tcp-churn --algo external \
        --optimizer tools/optimizers/optuna.py --sampler tpe

JSON lines on stdin/stdout: kpilot sends "space", this answers with an "ask"
(a point in [-1, 1]^d), kpilot sends a "tell" per trial, then "done". Seeded
from the space's seed: same seed, same points. Debian: python3-optuna.
"""
import argparse
import json
import os
import sys
import warnings

# This file is called optuna.py: its own directory first on sys.path would
# shadow the optuna package. realpath: python puts the script's directory
# there with symlinks resolved, and the script may be reached through one.
_here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
sys.path = [p for p in sys.path if os.path.realpath(p or ".") != _here]
import optuna  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

# A point kpilot moved by more than this (clamping, a refusal) is told as the
# point it really measured; integer rounding of a knob stays below it.
MOVED = 0.02


def sampler_for(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe-multivariate":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sampler", choices=["tpe", "tpe-multivariate", "cmaes", "random"],
                    default="tpe")
    ap.add_argument("--seed", type=int, help="instead of kpilot's seed")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    space = json.loads(sys.stdin.readline())
    if space.get("type") != "space":
        sys.exit("optuna.py: expected a space message first")
    d = len(space["knobs"])
    names = ["u%d" % i for i in range(d)]
    dists = {n: FloatDistribution(-1.0, 1.0) for n in names}
    seed = args.seed if args.seed is not None else space.get("seed", 1)
    direction = "minimize" if space.get("goal") == "minimize" else "maximize"
    study = optuna.create_study(direction=direction, sampler=sampler_for(args.sampler, seed))
    trials = space.get("trials", 0)
    told = 0
    trial = study.ask(dists)
    send({"type": "ask", "point": [trial.params[n] for n in names]})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("type") == "done":
            break
        if msg.get("type") != "tell":
            sys.exit("optuna.py: unexpected message %r" % msg.get("type"))
        applied = msg["point"]
        asked = [trial.params[n] for n in names]
        if msg.get("failed") or msg.get("metric") is None:
            study.tell(trial, state=TrialState.FAIL)
        elif max(abs(a - b) for a, b in zip(asked, applied)) > MOVED:
            study.tell(trial, state=TrialState.FAIL)
            study.add_trial(optuna.trial.create_trial(
                params=dict(zip(names, applied)), distributions=dists, value=msg["metric"]))
        else:
            study.tell(trial, msg["metric"])
        told += 1
        if trials and told >= trials:
            continue        # no more asks: wait for done
        trial = study.ask(dists)
        send({"type": "ask", "point": [trial.params[n] for n in names]})


if __name__ == "__main__":
    main()
