#!/usr/bin/env python3
"""Peer comparison: scikit-learn on the exact feature matrix nextbest trains on.

Usage:
    nextbest features --out /tmp/features.csv
    python3 bench/peer_sklearn.py /tmp/features.csv [--nextbest-report REPORT.json]

The CSV holds one row per plan snapshot: the feature columns, then `plan_id`,
`end_date`, `fraction`, `split` (train/test, nextbest's time split), `attainment` and
`hit`. Both scikit-learn models are trained on the train rows and scored on the test
rows, so the figures are comparable with nextbest's held-out AUC.
"""

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

META = ["plan_id", "end_date", "fraction", "split", "attainment", "hit"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features", help="CSV written by `nextbest features --out`")
    parser.add_argument("--nextbest-report", help="nextbest's evaluation JSON, to print its AUC alongside")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    frame = pd.read_csv(args.features)
    missing = [c for c in META if c not in frame.columns]
    if missing:
        print(f"{args.features}: missing columns {missing}; was it written by `nextbest features`?", file=sys.stderr)
        return 2
    features = [c for c in frame.columns if c not in META]
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    if train.empty or test.empty or test["hit"].nunique() < 2:
        print("need train and test rows, and both outcomes in test", file=sys.stderr)
        return 2
    x_train, y_train = train[features].to_numpy(np.float64), train["hit"].astype(int).to_numpy()
    x_test, y_test = test[features].to_numpy(np.float64), test["hit"].astype(int).to_numpy()

    models = {
        "sklearn LogisticRegression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "sklearn HistGradientBoostingClassifier": HistGradientBoostingClassifier(random_state=0),
    }
    results = []
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(x_train, y_train)
        seconds = time.perf_counter() - started
        auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
        results.append({"model": name, "auc": round(auc, 4), "train_seconds": round(seconds, 3)})
    if args.nextbest_report:
        with open(args.nextbest_report, encoding="utf-8") as handle:
            report = json.load(handle)
        for row in report.get("peer_rows", []):
            results.append(row)

    if args.json:
        print(json.dumps({"rows_train": len(train), "rows_test": len(test), "features": len(features), "results": results}, indent=2))
    else:
        print(f"{len(train)} train and {len(test)} test snapshots, {len(features)} features")
        print(f"{'model':<42} {'test AUC':>9} {'train s':>9}")
        for row in results:
            print(f"{row['model']:<42} {row['auc']:>9.4f} {row['train_seconds']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
