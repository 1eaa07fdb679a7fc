"""`zhongtai service ...`: evaluate the customer-service understanding models on labelled files,
no database needed. The last line printed is a JSON object, for scripts and benchmarks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    import polars as pl

app = typer.Typer(help="Intelligent customer service (智能客服)", no_args_is_help=True)
nlu_app = typer.Typer(help="Intent understanding", no_args_is_help=True)
match_app = typer.Typer(help="Question-pair matching (FAQ)", no_args_is_help=True)
app.add_typer(nlu_app, name="nlu")
app.add_typer(match_app, name="match")
kb_app = typer.Typer(help="Knowledge base (知识库): packs, import/export, publish", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
_READERS = {".csv", ".parquet", ".pq"}


def _read(path: Path, option: str, columns: list[str], problems: list[str]) -> pl.DataFrame | None:
    """The file's table, or None after appending one readable problem per defect."""
    import polars as pl

    suffix = path.suffix.lower()
    if suffix not in _READERS:
        problems.append(f"{option} {path}: unknown extension {suffix or '(none)'!r}, expected .csv or .parquet")
        return None
    if not path.is_file():
        problems.append(f"{option} {path}: no such file")
        return None
    try:
        frame = pl.read_csv(path, infer_schema_length=0) if suffix == ".csv" else pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        problems.append(
            f"{option} {path}: cannot read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        )
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        problems.append(f"{option} {path}: missing column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})")
        return None
    frame = frame.select(columns).drop_nulls()
    if frame.height == 0:
        problems.append(f"{option} {path}: no rows")
        return None
    return frame


def _fail(problems: list[str]) -> NoReturn:
    for problem in problems:
        _err.print(f"[red]error[/red]: {problem}", soft_wrap=True)
    # SystemExit, not typer.Exit: `zhongtai` runs click with standalone_mode=False, where an Exit
    # becomes a return value that main() drops, and the shell would see 0.
    raise SystemExit(2)


@nlu_app.command("evaluate")
def nlu_evaluate(
    train: Annotated[Path, typer.Option("--train", help="CSV or Parquet of labelled example questions")],
    test: Annotated[Path, typer.Option("--test", help="CSV or Parquet to score")],
    text_col: Annotated[str, typer.Option("--text-col", help="the question column")] = "text",
    label_col: Annotated[str, typer.Option("--label-col", help="the intent column")] = "label",
    model_out: Annotated[Path | None, typer.Option("--save", help="also save the trained model here")] = None,
) -> None:
    """Train the intent classifier on TRAIN, score TEST; the last line is JSON (accuracy, macro_f1)."""
    from sklearn.metrics import accuracy_score, f1_score  # type: ignore[import-untyped]

    from zhongtai.service.intents import IntentClassifier, IntentTrainingError

    problems: list[str] = []
    train_df = _read(train, "--train", [text_col, label_col], problems)
    test_df = _read(test, "--test", [text_col, label_col], problems)
    if problems or train_df is None or test_df is None:
        _fail(problems)
    started = time.perf_counter()
    try:
        model = IntentClassifier().fit(train_df[text_col].cast(str).to_list(), train_df[label_col].cast(str).to_list())
    except IntentTrainingError as exc:
        _fail([f"--train {train}: {exc}"])
    fit_seconds = time.perf_counter() - started
    truth = test_df[label_col].cast(str).to_list()
    predicted = [p.label for p in model.predict(test_df[text_col].cast(str).to_list())]
    accuracy = float(accuracy_score(truth, predicted))
    macro_f1 = float(f1_score(truth, predicted, average="macro", zero_division=0))
    if model_out is not None:
        model.save(model_out)
    unseen = sorted(set(truth) - set(model.labels))
    _out.print(f"intents {len(model.labels)}, train {train_df.height:,}, test {test_df.height:,}")
    if unseen:
        _out.print(f"test labels never seen in training: {', '.join(unseen[:10])}")
    _out.print(f"accuracy {accuracy:.4f}, macro F1 {macro_f1:.4f}, fit {fit_seconds:.1f} s")
    print(
        json.dumps(
            {"accuracy": round(accuracy, 6), "macro_f1": round(macro_f1, 6), "fit_seconds": round(fit_seconds, 2)}
        )
    )


@match_app.command("evaluate")
def match_evaluate(
    train: Annotated[Path, typer.Option("--train", help="CSV or Parquet: sentence1, sentence2, label (0/1)")],
    test: Annotated[Path, typer.Option("--test", help="CSV or Parquet pairs to score")],
) -> None:
    """Train the pair matcher on TRAIN, score TEST; the last line is JSON (f1, precision, recall,
    accuracy) for the positive (matching) class."""
    import polars as pl
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    from zhongtai.service.matching import MatchTrainingError, PairMatcher

    columns = ["sentence1", "sentence2", "label"]
    problems: list[str] = []
    frames = {}
    for option, path in (("--train", train), ("--test", test)):
        frame = _read(path, option, columns, problems)
        if frame is None:
            continue
        labels = frame["label"].cast(pl.Int64, strict=False)
        if labels.null_count() or not labels.is_in([0, 1]).all():
            problems.append(f"{option} {path}: label must be 0 or 1")
            continue
        frames[option] = frame.with_columns(labels.alias("label"))
    if problems:
        _fail(problems)
    train_df, test_df = frames["--train"], frames["--test"]
    started = time.perf_counter()
    try:
        model = PairMatcher().fit(
            train_df["sentence1"].cast(str).to_list(),
            train_df["sentence2"].cast(str).to_list(),
            train_df["label"].to_list(),
        )
    except MatchTrainingError as exc:
        _fail([f"--train {train}: {exc}"])
    fit_seconds = time.perf_counter() - started
    truth = test_df["label"].to_list()
    predicted = [
        int(p.matches)
        for p in model.predict(test_df["sentence1"].cast(str).to_list(), test_df["sentence2"].cast(str).to_list())
    ]
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", pos_label=1, zero_division=0
    )
    accuracy = float(accuracy_score(truth, predicted))
    _out.print(f"pairs train {train_df.height:,}, test {test_df.height:,}, threshold {model.threshold:.3f}")
    _out.print(f"F1 {f1:.4f}, precision {precision:.4f}, recall {recall:.4f}, accuracy {accuracy:.4f}")
    figures = {"f1": f1, "precision": precision, "recall": recall, "accuracy": accuracy}
    print(json.dumps({k: round(float(v), 6) for k, v in figures.items()} | {"fit_seconds": round(fit_seconds, 2)}))


# ---------------------------------------------------------------- `zhongtai service kb ...`


def _kb_format(path: Path, option: str, problems: list[str]) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    problems.append(f"{option} {path}: unknown extension {suffix or '(none)'!r}, expected .yaml, .yml or .csv")
    return ""


def _domain_fail(exc: Exception) -> NoReturn:
    from zhongtai.errors import DomainError

    if isinstance(exc, DomainError) and exc.errors:
        _fail([f"{e.field}: {e.message} ({e.code})" for e in exc.errors])
    _fail([str(exc)])


@kb_app.command("load-packs")
def kb_load_packs(
    pack: Annotated[list[str] | None, typer.Option("--pack", help="only this pack (repeat); default: all")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="publish a new version afterwards")] = False,
) -> None:
    """Load the general knowledge packs shipped with Zhongtai into the draft (existing sub-intents
    are left as they are, so it can run again)."""
    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database
    from zhongtai.errors import DomainError
    from zhongtai.service import kb
    from zhongtai.settings import get_settings

    db = Database.from_settings(get_settings())
    actor = Principal.system("cli")
    try:
        with db.transaction() as session:
            created = kb.load_packs(session, actor, pack)
            result: dict[str, object] = {"created": created, "packs": pack or kb.pack_names()}
            _out.print(f"packs loaded: {created} new sub-intent(s)")
            if publish:
                version = kb.publish(session, actor, note="load-packs")
                _out.print(
                    f"published version {version.version}: {version.subintents} sub-intents, "
                    f"{version.examples} examples, trained in {version.train_seconds:.1f} s"
                )
                result["version"] = version.version
                result["train_seconds"] = version.train_seconds
    except DomainError as exc:
        _domain_fail(exc)
    finally:
        db.dispose()
    print(json.dumps(result, ensure_ascii=False))


@kb_app.command("import")
def kb_import(
    file: Annotated[Path, typer.Argument(help="a .yaml/.yml or .csv knowledge-base file")],
    mode: Annotated[str, typer.Option("--mode", help="merge (keep what the file does not name) or replace")] = "merge",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report the counts, write nothing")] = False,
) -> None:
    """Import FILE into the draft, all or nothing; the last line is JSON with the counts."""
    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database
    from zhongtai.errors import DomainError
    from zhongtai.service import kb
    from zhongtai.settings import get_settings

    problems: list[str] = []
    fmt = _kb_format(file, "FILE", problems)
    if mode not in ("merge", "replace"):
        problems.append(f"--mode {mode}: expected merge or replace")
    if not problems and not file.is_file():
        problems.append(f"FILE {file}: no such file")
    if problems:
        _fail(problems)
    db = Database.from_settings(get_settings())
    try:
        with db.transaction() as session:
            result = kb.import_kb(session, Principal.system("cli"), file.read_bytes(), fmt, mode=mode, dry_run=dry_run)
    except DomainError as exc:
        _domain_fail(exc)
    finally:
        db.dispose()
    verb = "would change" if dry_run else "imported"
    _out.print(
        f"{verb}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.deleted} deleted sub-intent(s)"
    )
    print(result.model_dump_json())


@kb_app.command("export")
def kb_export(file: Annotated[Path, typer.Argument(help="where to write: .yaml/.yml or .csv")]) -> None:
    """Export the whole draft to FILE (it imports back to the same draft)."""
    from zhongtai.db import Database
    from zhongtai.service import kb
    from zhongtai.settings import get_settings

    problems: list[str] = []
    fmt = _kb_format(file, "FILE", problems)
    if problems:
        _fail(problems)
    db = Database.from_settings(get_settings())
    try:
        with db.transaction(write=False) as session:
            data = kb.export_kb(session, fmt)
    finally:
        db.dispose()
    try:
        file.write_bytes(data)
    except OSError as exc:
        _fail([f"FILE {file}: cannot write ({exc.strerror or exc})"])
    _out.print(f"wrote {file} ({len(data):,} bytes)")
    print(json.dumps({"file": str(file), "bytes": len(data)}))


@kb_app.command("publish")
def kb_publish(note: Annotated[str, typer.Option("--note", help="what changed")] = "") -> None:
    """Publish the draft as a new version and retrain the intent model."""
    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database
    from zhongtai.errors import DomainError
    from zhongtai.service import kb
    from zhongtai.settings import get_settings

    db = Database.from_settings(get_settings())
    try:
        with db.transaction() as session:
            version = kb.publish(session, Principal.system("cli"), note=note)
    except DomainError as exc:
        _domain_fail(exc)
    finally:
        db.dispose()
    _out.print(
        f"published version {version.version}: {version.subintents} sub-intents, {version.examples} examples, "
        f"trained in {version.train_seconds:.1f} s"
    )
    print(version.model_dump_json())
