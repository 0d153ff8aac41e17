"""Hyperparameters as the container delivers them: typed SM_HPS first, argv strings as fallback."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from ep_harness import hp_args

from launcher.entrypoints.hyperparameters import (
    HYPERPARAMETER_DOCS,
    HyperparameterError,
    TrainConfig,
    config_from_mapping,
    parse_hyperparameters,
    unknown_keys,
)


def test_defaults_without_any_source() -> None:
    config, unknown = parse_hyperparameters({}, [])
    assert config == TrainConfig()
    assert unknown == []


def test_sm_hps_typed_values() -> None:
    hps = {
        "epochs": 3,
        "lr": 0.1,
        "amp": "bf16",
        "shuffle": False,
        "hidden_sizes": [64, 32],
        "max_steps": None,
    }
    config, unknown = parse_hyperparameters({"SM_HPS": json.dumps(hps)}, [])
    assert (config.epochs, config.lr, config.amp, config.shuffle) == (3, 0.1, "bf16", False)
    assert config.hidden_sizes == (64, 32)
    assert config.max_steps is None
    assert unknown == []


def test_argv_strings_as_model_trainer_sends_them() -> None:
    argv, _ = hp_args(
        {"epochs": 3, "lr": 1e-5, "drop_last": True, "hidden_sizes": [64, 128], "max_steps": None}
    )
    assert argv == ["--epochs", "3", "--lr", "1e-05", "--drop_last", "true", "--hidden_sizes", "[64, 128]",
                    "--max_steps", "null"]  # fmt: skip
    config, _ = parse_hyperparameters({}, argv)
    assert (config.epochs, config.lr, config.drop_last, config.max_steps) == (3, 1e-5, True, None)
    assert config.hidden_sizes == (64, 128)


@pytest.mark.parametrize("text", ["False", "false", "0", "FALSE"])
def test_the_false_trap_argv(text: str) -> None:
    config, _ = parse_hyperparameters({}, ["--shuffle", text, "--scale_lr", text])
    assert config.shuffle is False
    assert config.scale_lr is False


@pytest.mark.parametrize("value", ["False", "false", False, 0, "0"])
def test_the_false_trap_sm_hps(value: object) -> None:
    # ModelTrainer json-loads "false" to false but leaves "False" a string: both must be False.
    config, _ = parse_hyperparameters({"SM_HPS": json.dumps({"restore_best": value})}, [])
    assert config.restore_best is False


@pytest.mark.parametrize("text", ["True", "true", "1"])
def test_true_spellings(text: str) -> None:
    assert parse_hyperparameters({}, ["--drop_last", text])[0].drop_last is True


def test_bad_boolean_is_an_error() -> None:
    with pytest.raises(HyperparameterError, match="drop_last='maybe'.*boolean"):
        parse_hyperparameters({}, ["--drop_last", "maybe"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[64, 128]", (64, 128)), ("[64,128,]", (64, 128)), ("(32, 16)", (32, 16)), ("64, 128", (64, 128)),
     ("[]", ()), ("256", (256,))],
)  # fmt: skip
def test_lists_json_then_literal_eval(text: str, expected: tuple[int, ...]) -> None:
    assert parse_hyperparameters({}, ["--hidden_sizes", text])[0].hidden_sizes == expected


def test_dash_spellings_and_forms() -> None:
    config, unknown = parse_hyperparameters(
        {}, ["--batch-size", "32", "-epochs", "2", "--lr=0.5", "--grad-accum-steps", "2"]
    )
    assert (config.batch_size, config.epochs, config.lr, config.grad_accum_steps) == (32, 2, 0.5, 2)
    assert unknown == []


def test_negative_number_is_a_value_not_a_flag() -> None:
    with pytest.raises(HyperparameterError, match="seed=-1"):
        parse_hyperparameters({}, ["--seed", "-1"])


def test_bare_boolean_flag_means_true_but_others_need_a_value() -> None:
    assert parse_hyperparameters({}, ["--compile"])[0].compile is True
    with pytest.raises(HyperparameterError, match="--epochs needs a value"):
        parse_hyperparameters({}, ["--epochs", "--lr", "0.1"])


def test_unknown_keys_are_reported_not_fatal() -> None:
    hps = {"epochs": 2, "layers": [1, 2], "sagemaker_program": "train.py", "mp_parameters": {}}
    config, unknown = parse_hyperparameters({"SM_HPS": json.dumps(hps)}, ["--my-flag", "x"])
    assert config.epochs == 2
    assert unknown == ["layers", "my_flag"]  # platform keys are not reported
    assert unknown_keys({"batch-size": 1, "bogus": 2}) == ["bogus"]


def test_sm_hps_wins_over_argv_and_argv_fills_gaps() -> None:
    config, _ = parse_hyperparameters({"SM_HPS": json.dumps({"epochs": 5})}, ["--epochs", "7", "--seed", "3"])
    assert (config.epochs, config.seed) == (5, 3)


def test_sm_hps_coerced_strings() -> None:
    # Contract 4.1: str "007" stays a string in SM_HPS; "NaN" becomes a float NaN.
    assert parse_hyperparameters({"SM_HPS": json.dumps({"epochs": "007"})}, [])[0].epochs == 7
    with pytest.raises(HyperparameterError, match="lr=nan"):
        parse_hyperparameters({"SM_HPS": '{"lr": NaN}'}, [])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": 0}, "batch_size=0 must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs=2.5: expected an integer"),
        ({"epochs": True}, "expected an integer, got a boolean"),
        ({"lr": -0.1}, "lr=-0.1 must be a finite number in \\(0"),
        ({"momentum": 1.0}, "momentum=1.0"),
        ({"optimizer": "rmsprop"}, "expected one of sgd, adam, adamw"),
        ({"lr_schedule": "exponential"}, "expected one of constant, step, cosine, linear"),
        ({"amp": "fp8"}, "amp"),
        ({"model": "resnet"}, "model"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"warmup_steps": 10, "warmup_epochs": 1}, "not both"),
        ({"min_lr": 1.0, "lr": 0.1}, "min_lr=1.0 must not exceed lr"),
        ({"hidden_sizes": [64, 0]}, "hidden_sizes"),
        ({"hidden_sizes": "not a list"}, "hidden_sizes"),
        ({"conv_channels": []}, "conv_channels"),
        ({"max_steps": 0}, "max_steps=0 must be >= 1"),
        ({"keep_checkpoints": 0}, "keep_checkpoints"),
    ],
)
def test_invalid_values_have_clear_messages(values: dict[str, object], message: str) -> None:
    with pytest.raises(HyperparameterError, match=message):
        config_from_mapping(values)


def test_config_from_mapping_accepts_dash_keys_and_ignores_unknown() -> None:
    config = config_from_mapping({"batch-size": 16, "hidden_sizes": [8], "not_ours": 1})
    assert (config.batch_size, config.hidden_sizes) == (16, (8,))


def test_malformed_sm_hps() -> None:
    with pytest.raises(HyperparameterError, match="SM_HPS is not valid JSON"):
        parse_hyperparameters({"SM_HPS": "{epochs: 3"}, [])
    with pytest.raises(HyperparameterError, match="JSON object"):
        parse_hyperparameters({"SM_HPS": "[1, 2]"}, [])


def test_stray_positional_argument() -> None:
    with pytest.raises(HyperparameterError, match="unexpected argument '2'"):
        parse_hyperparameters({}, ["--epochs", "1", "2", "extra"])


def test_every_field_is_documented() -> None:
    names = [f.name for f in fields(TrainConfig)]
    assert list(HYPERPARAMETER_DOCS) == names
    assert all(HYPERPARAMETER_DOCS[n] and "\n" not in HYPERPARAMETER_DOCS[n] for n in names)


@pytest.mark.parametrize("doc", ["docs/entrypoint.md", "README.md"])
def test_docs_table_matches_the_code(doc: str) -> None:
    """The docs list every hyperparameter with its real default and description."""
    from ep_harness import REPO

    text = (REPO / doc).read_text()
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        value = getattr(defaults, f.name)
        shown = json.dumps(list(value) if isinstance(value, tuple) else value)
        assert f"| `{f.name}` | `{shown}` | {HYPERPARAMETER_DOCS[f.name]} |" in text, f.name
