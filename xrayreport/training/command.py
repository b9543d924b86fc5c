"""``xrayreport train``, ``evaluate`` and ``export``: the researcher's path from data to a shipped model."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UnknownNameError, XrayReportError
from ..exit_codes import EXIT_OK

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATASETS = [REPO / "datasets" / f"{name}.yaml" for name in ("tufts", "ufba425", "dental-radiography", "dc1000")]
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "datasets"

if TYPE_CHECKING:
    from .datasets import Sample
    from .tooth_crops import ToothCrop, ToothTrainConfig


def _train(args: argparse.Namespace) -> int:
    from .tooth_crops import is_tooth_findings_config, load_tooth_train_config

    try:
        from .tooth_classifier import train_tooth_classifier
        from .train import load_train_config, train
    except ImportError as exc:
        raise XrayReportError(f"training needs torch ({exc}); install it with: pip install -e '.[train]'") from None
    options = {"resume": args.resume, "device_name": args.device}
    if is_tooth_findings_config(args.config):
        tooth_config, base = load_tooth_train_config(args.config, epochs=args.epochs)
        run_dir = _new_or_resumed_run(args, tooth_config.name)
        summary = train_tooth_classifier(tooth_config, base, run_dir, keep_every_epoch=args.every_epoch, **options)
    else:
        if args.every_epoch:
            raise XrayReportError(
                "--every-epoch is for a tooth findings YAML ('kind: tooth-findings'); "
                "the detector keeps last.pt and best.pt"
            )
        config, base = load_train_config(args.config, epochs=args.epochs)
        run_dir = _new_or_resumed_run(args, config.name)
        summary = train(config, base, run_dir, **options)
    print(json.dumps(summary, indent=2))
    return EXIT_OK


def _new_or_resumed_run(args: argparse.Namespace, name: str) -> Path:
    run_dir: Path = args.out / name
    if (run_dir / "last.pt").exists() and not args.resume:
        raise XrayReportError(f"{run_dir} already holds a run; pass --resume to continue it or --out for a new folder")
    return run_dir


def _export(args: argparse.Namespace) -> int:
    try:
        from .export import export_onnx
    except ImportError as exc:
        raise XrayReportError(f"export needs torch ({exc}); install it with: pip install -e '.[train]'") from None
    difference = export_onnx(
        args.checkpoint,
        args.output,
        name=args.name or args.output.stem,
        version=args.version,
        trained_on=tuple(args.trained_on),
        thresholds_from=args.thresholds_from,
        second_stage=args.second_stage,
        classes=tuple(args.classes) if args.classes else None,
    )
    print(f"wrote {args.output} and {args.output.with_suffix('.json')}; max |torch - onnxruntime| = {difference:.2e}")
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    from ..atomic_write import write_text_atomically
    from ..detection.detector import Detector
    from ..detection.tooth_findings import TASK
    from .evaluate import choose_thresholds, evaluate, plot_confusion, write_metrics

    if args.leave_one_source_out:
        return _leave_one_source_out(args)
    if args.compare:
        return _compare(args)
    if args.model is None:
        raise XrayReportError(
            "evaluate needs a MODEL.onnx, --compare OLD.onnx NEW.onnx or --leave-one-source-out CONFIG"
        )
    if args.choose_thresholds and args.split != "val":
        raise XrayReportError("thresholds are chosen on the validation split, never on test: use --split val")
    if _task_of(args.model) == TASK:
        return _evaluate_tooth_findings(args)
    detector = Detector(args.model)
    samples = _samples(args)
    if args.choose_thresholds:
        chosen = choose_thresholds(evaluate(detector, samples)["_records"])
        detector.config = replace(detector.config, score_thresholds={**detector.config.score_thresholds, **chosen})
        write_text_atomically(Path(args.model).with_suffix(".json"), detector.config.to_json())
        print(f"chose thresholds on {args.split}: {chosen}; written to {Path(args.model).with_suffix('.json')}")
    results = evaluate(detector, samples)
    clean = {k: v for k, v in results.items() if not k.startswith("_") and k != "fdi_confusion"}
    print(json.dumps(clean, indent=2))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_metrics(results, args.out / f"metrics-{args.split}.json")
        # A confusion matrix of no matched teeth (an untrained model) is an empty, meaningless plot.
        if results.get("teeth", {}).get("matched"):
            plot_confusion(results["fdi_confusion"], args.out / f"fdi-confusion-{args.split}.png")
        print(f"wrote metrics and plots to {args.out}", file=sys.stderr)
    return EXIT_OK


def _samples(args: argparse.Namespace) -> list[Sample]:
    """The images of ``--split`` of every ``--datasets`` YAML (``--limit`` per dataset and split)."""
    from .evaluate import load_samples

    return [
        sample
        for dataset in args.datasets
        for split in _splits(args.split)
        for sample in load_samples(dataset, args.data_root, split, args.limit)
    ]


def _compare(args: argparse.Namespace) -> int:
    """Both models on the same scans; the figures, their differences with 95 % intervals, the rule's verdict."""
    from ..detection.detector import Detector
    from ..detection.tooth_findings import TASK
    from .compare import compare, comparison_json, comparison_table, load_rule, verdict
    from .evaluate import evaluate

    if args.model is not None:
        raise XrayReportError("--compare takes the two models itself: OLD.onnx NEW.onnx, no MODEL before it")
    if _task_of(args.compare[0]) == TASK or _task_of(args.compare[1]) == TASK:
        return _compare_tooth_findings(args)
    if args.split in ("train", "val") and args.rule:
        print("note: a verdict on the split a model was tuned or trained on is not evidence", file=sys.stderr)
    rule = load_rule(args.rule) if args.rule else None  # read first: a broken rule fails before hours of work
    old_path, new_path = args.compare
    samples = _samples(args)
    tallies = []
    for path in (old_path, new_path):
        print(f"measuring {path} on {len(samples)} images", file=sys.stderr)
        tallies.append(evaluate(Detector(path), samples)["_tallies"])
    # A patient's scans are resampled together where the source knows the patient (a clinic's export does).
    compared = compare(tallies[0], tallies[1], groups=[s.group or s.image_path.name for s in samples])
    result = verdict(compared, rule) if rule else None
    table = comparison_table(compared, old_path.stem, new_path.stem)
    print(table)
    if result is not None:
        print(
            ("adopt " + new_path.stem if result.adopt else "keep " + old_path.stem) + ": " + "; ".join(result.reasons)
        )
    _write_comparison(args, table, comparison_json(compared, result))
    return EXIT_OK


def _write_comparison(args: argparse.Namespace, table: str, figures: dict[str, Any]) -> None:
    """With ``--out``: compare-<split>.json (the two models, the split and ``figures``) and the table as .md."""
    from ..atomic_write import write_text_atomically

    if not args.out:
        return
    old_path, new_path = args.compare
    document = {"old": str(old_path), "new": str(new_path), "split": args.split, **figures}
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.out / f"compare-{args.split}.json", json.dumps(document, indent=2) + "\n")
    write_text_atomically(args.out / f"compare-{args.split}.md", table)
    print(f"wrote the comparison to {args.out}", file=sys.stderr)


def _splits(split: str) -> tuple[str, ...]:
    """``all`` is every split: for sources the model never trained on (see --leave-one-source-out)."""
    return ("train", "val", "test") if split == "all" else (split,)


def _compare_tooth_findings(args: argparse.Namespace) -> int:
    """Two tooth findings models on the same teeth of ``--crops``: per class and source, AP with a paired 95 %
    interval of the difference over resampled scans."""
    from ..detection.tooth_findings import TASK, ToothFindingsClassifier
    from .tooth_evaluation import ap_comparison_table, classify_crops, compare_ap

    old_path, new_path = args.compare
    for path in (old_path, new_path):
        if _task_of(path) != TASK:
            raise XrayReportError(f"{path.name} is not a tooth findings model; --compare takes two of the same kind")
    if args.rule:
        raise XrayReportError("--rule judges two detectors' pipelines; two tooth findings models are compared by AP")
    old, new = ToothFindingsClassifier(old_path), ToothFindingsClassifier(new_path)
    classes = tuple(name for name in old.config.classes if name in new.config.classes)
    crops = _split_crops(args, *_crop_config(args))
    scores = []
    for classifier in (old, new):
        print(
            f"classifying {len(crops)} teeth with {classifier.config.name} {classifier.config.version}", file=sys.stderr
        )
        columns = [classifier.config.classes.index(name) for name in classes]
        scores.append(classify_crops(classifier, crops)[:, columns])
    rows = compare_ap(scores[0], scores[1], crops, classes)
    table = ap_comparison_table(
        rows,
        f"{old_path} ({old.config.name} {old.config.version})",
        f"{new_path} ({new.config.name} {new.config.version})",
    )
    print(table)
    _write_comparison(args, table, {"crops": str(args.crops), "ap": rows})
    return EXIT_OK


def _crop_config(args: argparse.Namespace) -> tuple[ToothTrainConfig, Path]:
    """``--crops``' training YAML, each source capped at ``--limit``, and the folder its paths are relative to."""
    from .tooth_crops import load_tooth_train_config

    config, base = load_tooth_train_config(args.crops)
    if args.limit:
        config = replace(config, sources=tuple(replace(s, limit=args.limit) for s in config.sources))
    return config, base


def _split_crops(args: argparse.Namespace, config: ToothTrainConfig, base: Path) -> list[ToothCrop]:
    """Every tooth of ``config``'s sources in ``--split`` (finding teeth on whole scans: the slow part)."""
    from .tooth_crops import load_split_crops

    return [c for split in _splits(args.split) for c in load_split_crops(config, base, split)]


def _task_of(model: Path) -> str | None:
    """The ``task`` a model's JSON declares (tooth classifiers do; detectors predate it and have none)."""
    try:
        task = json.loads(model.with_suffix(".json").read_text(encoding="utf-8")).get("task")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None  # the detector's loader reports a missing or broken JSON with its own message
    return task if isinstance(task, str) else None


def _evaluate_tooth_findings(args: argparse.Namespace) -> int:
    from ..atomic_write import write_text_atomically
    from ..detection.tooth_findings import ToothFindingsClassifier
    from .leave_one_source_out import transfer_figures
    from .tooth_evaluation import classify_crops, crop_logits, parse_tune_on, recalls_on_tuning_teeth, tune

    for option, given in (("--same-recall-as", args.same_recall_as), ("--tune-on", args.tune_on)):
        if given and not args.choose_thresholds:
            raise XrayReportError(f"{option} goes with --choose-thresholds (on the validation split)")
    classifier = ToothFindingsClassifier(args.model)
    config, base = _crop_config(args)
    tune_on = parse_tune_on(args.tune_on or (), classifier.config.classes, [source.name for source in config.sources])
    crops = _split_crops(args, config, base)
    if args.choose_thresholds:
        recalls = None
        if args.same_recall_as:
            shipped = ToothFindingsClassifier(args.same_recall_as)
            old = shipped.config
            recalls = recalls_on_tuning_teeth(
                classify_crops(shipped, crops),
                crops,
                old.score_thresholds,
                config.whole_scan_sources,
                old.classes,
                tune_on,
            )
            print(f"recalls of {old.name} {old.version} to keep on {args.split}: {recalls}", file=sys.stderr)
        logits = crop_logits(classifier, crops)
        classifier.config = tune(classifier.config, logits, crops, config.whole_scan_sources, recalls, tune_on)
        write_text_atomically(args.model.with_suffix(".json"), classifier.config.to_json())
        print(
            f"chose calibration {classifier.config.calibration} and thresholds {classifier.config.score_thresholds} "
            f"on {args.split}; written to {args.model.with_suffix('.json')}"
        )
    title = f"{classifier.config.name} {classifier.config.version}, {args.split} split"
    plot = args.out / f"reliability-{args.split}.png" if args.out else None
    results = {"split": args.split, **transfer_figures(classifier, crops, plot, title)}
    if args.stability:
        from .robustness import stability, stability_failures

        results["stability"] = stability(classifier, crops)
        failures = stability_failures(results["stability"])
        results["stability_gate"] = {"max_change": 0.5, "failures": failures}
        verdict = "fails: " + "; ".join(failures) if failures else "passes"
        print(
            f"stability gate (no class changes by more than half under any variation or cut) {verdict}", file=sys.stderr
        )
    print(json.dumps({k: v for k, v in results.items() if k != "reliability"}, indent=2))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_text_atomically(args.out / f"metrics-{args.split}.json", json.dumps(results, indent=2) + "\n")
        print(f"wrote metrics and the reliability plot to {args.out}", file=sys.stderr)
    return EXIT_OK


def _leave_one_source_out(args: argparse.Namespace) -> int:
    from .leave_one_source_out import folds_of, run_fold, summarise
    from .tooth_crops import load_tooth_train_config

    if args.out is None:
        raise XrayReportError("--leave-one-source-out needs --out DIR for its folds' runs, models and metrics")
    config, base = load_tooth_train_config(args.leave_one_source_out, epochs=args.epochs)
    folds = folds_of(config)
    for fold in args.fold or list(folds):
        if fold not in folds:
            raise UnknownNameError("fold", fold, folds)
        run_fold(
            config,
            base,
            fold,
            args.out,
            device_name=args.device,
            holdout_limit=args.limit,
            every_epoch=args.every_epoch,
        )
    print(summarise(args.out))
    return EXIT_OK


def register(commands: Any) -> None:
    """Add ``train``, ``evaluate`` and ``export`` to an argparse subparsers object."""
    train = commands.add_parser(
        "train",
        help="train the detector or the tooth findings classifier from a YAML configuration (needs [train])",
        description="Train the detector, or with 'kind: tooth-findings' in the YAML the second-stage tooth "
        "classifier. Writes config.json, metrics.jsonl, last.pt (resumable) and best.pt "
        "into OUT/<name>/. Uses CUDA when present.",
    )
    train.add_argument(
        "config", type=Path, metavar="CONFIG", help="training YAML, e.g. configs/detector-v1.yaml or tooth-findings-v1"
    )
    train.add_argument("--out", type=Path, default=Path("runs"), help="folder for runs (default: runs)")
    train.add_argument("--resume", action="store_true", help="continue the run in OUT/<name>/ from last.pt")
    train.add_argument("--epochs", type=int, help="override the number of epochs")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    train.add_argument(
        "--every-epoch",
        action="store_true",
        help="tooth findings: also keep each epoch's weights as OUT/<name>/epoch-<n>.pt, to ship the epoch a "
        "leave-one-source-out fold chose rather than the best in-source validation epoch",
    )
    train.set_defaults(run=_train)

    export = commands.add_parser(
        "export",
        help="export a training checkpoint to ONNX with its preprocessing JSON",
        description="Export a checkpoint (.pt) to ONNX and write the JSON (input size, normalisation, class "
        "names, thresholds, version) beside it; checks that onnxruntime reproduces torch's outputs.",
    )
    export.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    export.add_argument("--name", help="model name (default: the output file's stem)")
    export.add_argument("--version", default="0.0.0", help="model version, e.g. 1.0.0")
    export.add_argument("--trained-on", nargs="*", default=[], metavar="DATASET", help="dataset names, for the JSON")
    export.add_argument(
        "--thresholds-from",
        type=Path,
        metavar="MODEL.json",
        help="take the score thresholds of this model's JSON (same kind and classes), e.g. the shipped detector's",
    )
    export.add_argument(
        "--second-stage",
        metavar="FILE.onnx",
        help="a detector's tooth findings classifier: its file name, already exported beside the output",
    )
    export.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="a tooth classifier: export only these outputs (e.g. the ones its training sources label)",
    )
    export.set_defaults(run=_export)

    evaluate = commands.add_parser(
        "evaluate",
        help="measure an ONNX model on a dataset split (teeth, numbering, missing teeth, findings AP50)",
        description="Run the ONNX model exactly as 'analyze' does on a fixed split and report tooth detection "
        "precision/recall, FDI numbering accuracy, missing-tooth precision/recall and per-class AP50. For a tooth "
        "findings model (second stage): per-tooth AP and precision/recall per class and source, on the crops of "
        "the --crops training YAML's sources.",
    )
    evaluate.add_argument("model", type=Path, nargs="?", help="the .onnx model (its .json beside it)")
    evaluate.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test", "all"),
        help="the fixed split to measure on (default test); all: every split, for sources the model never saw",
    )
    evaluate.add_argument("--datasets", nargs="+", type=Path, default=DEFAULT_DATASETS, metavar="YAML")
    evaluate.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="folder holding the datasets")
    evaluate.add_argument("--limit", type=int, help="use only the first N images of each dataset")
    evaluate.add_argument("--out", type=Path, help="write metrics-<split>.json and the confusion plot here")
    evaluate.add_argument(
        "--crops",
        type=Path,
        default=REPO / "configs" / "tooth-findings-v1.yaml",
        metavar="YAML",
        help="for a tooth findings model: the training YAML whose sources and splits to measure it on",
    )
    evaluate.add_argument(
        "--choose-thresholds",
        action="store_true",
        help="pick per-class score thresholds maximising F1 on this (validation) split (a tooth findings model: "
        "calibration first); store them in the model JSON",
    )
    evaluate.add_argument(
        "--same-recall-as",
        type=Path,
        metavar="SHIPPED.onnx",
        help="a tooth findings model, with --choose-thresholds: instead of the best F1, each class's highest threshold "
        "keeping the recall the shipped model has on the same validation teeth (replace a model without changing "
        "how sensitive the product is)",
    )
    evaluate.add_argument(
        "--tune-on",
        nargs="+",
        metavar="CLASS=SOURCE[,SOURCE]",
        help="a tooth findings model, with --choose-thresholds: calibrate and threshold CLASS on the validation "
        "teeth of these sources of --crops alone (e.g. caries=dc1000: full-resolution scans, not 512x256 exports); "
        "other classes as before",
    )
    evaluate.add_argument(
        "--leave-one-source-out",
        type=Path,
        metavar="CONFIG",
        help="a tooth findings training YAML: for each of its folds, train the recipe without those sources "
        "(needs [train]), tune it on the others' validation teeth and score it on the sources left out, all "
        "splits; writes OUT/<fold>/ and OUT/summary.md (resumable; --limit caps images per left-out split)",
    )
    evaluate.add_argument(
        "--stability",
        action="store_true",
        help="a tooth findings model: also classify every tooth as other machines would show it (tone curve, "
        "gamma, edge enhancement, noise, half resolution, JPEG) and cut without its neighbours, report how often "
        "findings flip, and the gate: no class's findings per 100 teeth may change by more than half under any "
        "variation or cut",
    )
    evaluate.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("OLD", "NEW"),
        help="two detectors (.onnx, each with its second stage) on the same scans: every figure side by side with "
        "a 95%% bootstrap interval of the difference; or two tooth findings models on the teeth of --crops: AP per "
        "class and source, with the interval over resampled scans",
    )
    evaluate.add_argument(
        "--rule",
        type=Path,
        metavar="YAML",
        help="with --compare: the verdict rule, fixed before the run (e.g. configs/evaluation/compare-rule.yaml)",
    )
    evaluate.add_argument("--fold", action="append", metavar="NAME", help="only this fold (repeatable)")
    evaluate.add_argument("--epochs", type=int, help="with --leave-one-source-out: override the recipe's epochs")
    evaluate.add_argument("--device", default="auto", help="with --leave-one-source-out: auto, cpu or cuda")
    evaluate.add_argument(
        "--every-epoch",
        action="store_true",
        help="with --leave-one-source-out: keep and score every epoch's model on the sources left out (a table per "
        "epoch in summary.md), to choose the epoch there; a fold trained without it has no epochs to score",
    )
    evaluate.set_defaults(run=_evaluate)
