"""The model card's reproduce line: the recorded run arguments give back the command."""

from convert.card import train_command


def _training(**args):
    base = {"optimizer": "adam", "lr": 1e-3, "epochs": 60, "lr_steps": "35,50", "batch": 16, "seed": 0,
            "init": None, "teacher": None, "teacher_weights": None, "distill_alpha": 0.5}
    return {"args": {**base, **args}, "base_lr": args.get("lr", 1e-3)}


def test_plain_run_gives_the_recipe_flags_only():
    assert train_command("pose-lsp", {**_training(), "run_dir": "runs/pose-lsp"}) == (
        "python -m models.train --model pose-lsp --optimizer adam --lr 0.001 --epochs 60 --lr-steps 35,50 --batch 16")


def test_fine_tune_names_its_run_folder_init_and_teacher():
    t = {**_training(lr=2e-4, epochs=20, lr_steps="14", seed=1, init="runs/pose-lsp/best.h5",
                     teacher="pose-lsp-real", teacher_weights="runs/pose-lsp-real/best.h5"),
         "run_dir": "runs/pose-lsp-kd"}
    assert train_command("pose-lsp", t) == (
        "python -m models.train --model pose-lsp --optimizer adam --lr 0.0002 --epochs 20 --lr-steps 14 --batch 16 "
        "--out runs/pose-lsp-kd --seed 1 --init runs/pose-lsp/best.h5 --teacher pose-lsp-real "
        "--teacher-weights runs/pose-lsp-real/best.h5 --distill-alpha 0.5")
