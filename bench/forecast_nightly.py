"""How long the nightly forecast takes on a demo database, stage by stage.

    python bench/forecast_nightly.py var/zhongtai.db [--models seasonal_naive,tsb,lgbm] [--reconcile locations]

Runs ``forecasting.tasks.run_forecast`` (the nightly job's work: history from the orders, event
features, the engine, reconciliation, storing, scoring, pruning) against a *copy* of the given
SQLite file, so the original keeps its runs. Prints the figures and writes
``bench/results/forecast_nightly.json``: {"figures": {"seconds", "history_s", "forecast_s",
"reconcile_s", "store_s", "series", "values", "backtest_wape_combined", "backtest_wape_<model>"...},
"params": {...}}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhongtai.auth.principal import Principal  # noqa: E402
from zhongtai.db import Database  # noqa: E402
from zhongtai.forecasting import service, tasks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="a demo SQLite file (copied first)")
    parser.add_argument("--models", default=",".join(service.RunOptions().models))
    parser.add_argument("--reconcile", default=service.RunOptions().reconcile, choices=service.RECONCILE_MODES)
    parser.add_argument("--horizon", type=int, default=service.RunOptions().horizon)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "forecast_nightly.json")
    args = parser.parse_args()
    options = service.RunOptions(models=tuple(args.models.split(",")), reconcile=args.reconcile, horizon=args.horizon)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bench.db"
        shutil.copy(args.database, copy)
        db = Database(f"sqlite:///{copy}")
        started = time.perf_counter()
        summary = tasks.run_forecast(
            db,
            Principal.system("bench"),
            options,
            trigger="manual",
            progress=lambda done, total, message: print(f"{time.perf_counter() - started:7.1f}s {done:3d}% {message}"),
        )
        seconds = time.perf_counter() - started
        with db.transaction(write=False) as session:
            run = service.get_run(session, summary["run_id"])
            by_model = dict(run.backtest.get("by_model", {}))
            wape = by_model.get("combined")
        db.dispose()
    figures = {
        "seconds": round(seconds, 1),
        **{k: v for k, v in summary["timings"].items()},
        "series": summary["series"],
        "values": summary["values"],
        "backtest_wape_combined": wape,
        "reconcile": summary["reconcile"],
    }
    # WAPE per SKU x location x day on the backtest window, each model and their combination
    figures |= {f"backtest_wape_{name}": value for name, value in by_model.items() if name != "combined"}
    result = {"figures": figures, "params": options.as_params()}
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
