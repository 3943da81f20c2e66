"""The model card's reproduce line: the recorded run arguments give back the command."""

from convert.card import train_command


def _training(**args):
    base = {"optimizer": "adam", "lr": 1e-3, "epochs": 60, "lr_steps": "35,50", "batch": 16, "seed": 0,
            "init": None, "teacher": None, "teacher_weights": None, "distill_alpha": 0.5}
    return {"args": {**base, **args}, "base_lr": args.get("lr", 1e-3)}


def test_plain_run_gives_the_recipe_flags_only():
    assert train_command("pose-lsp", {**_training(), "run_dir": "runs/pose-lsp"}) == (
        "python -m models.train --model pose-lsp --optimizer adam --lr 0.001 --epochs 60 --lr-steps 35,50 --batch 16")


def test_default_schedule_is_written_out_as_resolved():
    t = {**_training(lr_steps=""), "lr_steps": [36, 51], "run_dir": "runs/pose-lsp"}
    assert " --lr-steps 36,51 --batch 16" in train_command("pose-lsp", t)


def test_fine_tune_names_its_run_folder_init_and_teacher():
    t = {**_training(lr=2e-4, epochs=20, lr_steps="14", seed=1, init="runs/pose-lsp/best.h5",
                     teacher="pose-lsp-real", teacher_weights="runs/pose-lsp-real/best.h5"),
         "run_dir": "runs/pose-lsp-kd"}
    assert train_command("pose-lsp", t) == (
        "python -m models.train --model pose-lsp --optimizer adam --lr 0.0002 --epochs 20 --lr-steps 14 --batch 16 "
        "--out runs/pose-lsp-kd --seed 1 --init runs/pose-lsp/best.h5 --teacher pose-lsp-real "
        "--teacher-weights runs/pose-lsp-real/best.h5 --distill-alpha 0.5")


def test_the_run_record_stands_in_for_a_missing_run_folder(tmp_path, monkeypatch):
    import hashlib
    import json

    from convert import card

    run = tmp_path / "runs" / "m"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"args": {"epochs": 2}, "base_lr": 1e-3}))
    (run / "history.jsonl").write_text('{"epoch": 1, "seconds": 10}\n{"epoch": 2, "seconds": 12}\n')
    (run / "best.json").write_text('{"epoch": 2, "nme_io": 0.05}')
    (run / "best.h5").write_bytes(b"weights")
    rec = card.read_run(run)
    assert [h["epoch"] for h in rec["history"]] == [1, 2] and rec["best"]["epoch"] == 2 and rec["notes"] is None
    assert rec["best_h5_sha256"] == hashlib.sha256(b"weights").hexdigest()
    monkeypatch.setattr(card, "PRETRAINED", tmp_path)
    assert card.load_run("m", tmp_path / "nowhere") is None
    card.record_path("m").write_text(json.dumps(rec))
    assert card.load_run("m", tmp_path / "nowhere") == rec  # a fresh clone: the record
    (run / "notes.md").write_text("lr changed at epoch 2\n")
    assert card.load_run("m", run)["notes"] == "lr changed at epoch 2"  # the folder wins when present


def test_every_shipped_model_has_its_run_record():
    import json
    from pathlib import Path

    from convert.card import record_path

    shipped = Path(__file__).resolve().parents[2] / "runtime" / "pretrained"
    for tfl in sorted(shipped.glob("*.tflite")):
        rec = json.loads(record_path(tfl.stem).read_text())
        assert rec["history"] and rec["best"]["epoch"] <= len(rec["history"]) and len(rec["data_sha256"]) == 64
        assert {"args", "base_lr", "train_samples", "val_samples"} <= set(rec["run"])


def test_face_card_says_its_pinned_twin_is_another_width():
    """The shipped face-real is pinned at width 128 (models.configs._PINNED) while face is 160: the
    card's binary / real ratio must say that it compares two architectures."""
    import json

    from convert.card import markdown
    from models.configs import PRETRAINED, get_config, named_weights_fit, real_twin

    card = json.loads((PRETRAINED / "face.card.json").read_text())
    rt = card["real_twin"]
    assert rt["width"] == get_config("face-real").width and card["config"]["width"] == get_config("face").width
    assert rt["same_architecture"] is named_weights_fit(real_twin(get_config("face")))
    assert ("not the same architecture" in markdown(card)) is (not rt["same_architecture"])
