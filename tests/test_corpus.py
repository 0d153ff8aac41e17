"""Real public Script Mode scripts, unmodified, run by `launch train --local` as a user would.

Each script lives byte for byte under tests/corpus/<name>/src (the source dir SageMaker would get;
tests/corpus/<name>/SOURCE.md says where it comes from and under which licence), reads small data
that tests/corpus/datagen.py writes in the script's own format, and is judged by the files that this
script writes: the members of model.tar.gz and output.tar.gz and what they contain, and what it logs.
A script that cannot run here must fail with a message that names the real cause. docs/corpus.md
lists the corpus and the outcome of each script.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from launcher.cli.main import main
from tests.conftest import CapturedEnv
from tests.corpus import datagen

CORPUS = Path(__file__).resolve().parent / "corpus"


def _train(cli_env: CapturedEnv, case: str, *flags: str) -> tuple[int, dict[str, Any]]:
    """`launch train --local --source-dir tests/corpus/<case>/src … --json`; the exit code and job."""
    argv = ["train", "--local", "--source-dir", str(CORPUS / case / "src"),
            "--name", case.replace("_", "-"), "--json", *flags]
    rc = main(argv, cli_env)
    return rc, json.loads(cli_env.out)


def _data_flags(channels: dict[str, Path]) -> list[str]:
    return [arg for name, path in channels.items() for arg in ("--data", f"{name}={path}")]


def _members(archive: str) -> dict[str, bytes]:
    """The regular files of a .tar.gz artefact: {name without './': content}."""
    out = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                out[member.name.removeprefix("./")] = handle.read()
    return out


def _log(cli_env: CapturedEnv, job: dict[str, Any], host: str = "algo-1") -> str:
    assert cli_env.home is not None
    return (cli_env.home / "jobs" / job["name"] / "logs" / f"{host}.log").read_text()


def _completed(rc: int, job: dict[str, Any]) -> None:
    """The job ended well; otherwise the assertion shows why (failure reason and traceback)."""
    why = f"{job.get('failure_reason')}\n{job.get('details', {}).get('last_traceback')}"
    assert (rc, job["status"]) == (0, "Completed"), why


def _printed_float(log: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s*([-+0-9.eE]+)", log)
    assert match, f"{label!r} not in the log"
    return float(match.group(1))


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "SOURCE.md").is_file())


def test_the_corpus_holds_at_least_eight_scripts_each_with_a_test() -> None:
    assert len(CASES) >= 8
    here = Path(__file__).read_text()
    assert all(f'"{case}"' in here for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_corpus_files_are_byte_for_byte_the_published_ones(case: str) -> None:
    """SOURCE.md lists every file of src/ with its git blob id at the cited commit."""
    source_md = (CORPUS / case / "SOURCE.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{40})` \|$", source_md, re.M)
    src = CORPUS / case / "src"
    files = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    assert files == sorted(name for name, _ in rows)
    for name, blob in rows:
        assert _git_blob_id((src / name).read_bytes()) == blob, name


# -- PyTorch ------------------------------------------------------------------------------------------

def _check_neural_net(members: dict[str, bytes], script: str, src: Path, test_dir: Path, log: str) -> None:
    """model.pth is NeuralNet's state_dict (8→8→6→1) and the inference code is copied beside it."""
    import torch

    assert set(members) == {"model.pth", f"code/{script}", "code/pytorch_model_def.py"}
    assert members[f"code/{script}"] == (src / script).read_bytes()
    assert members["code/pytorch_model_def.py"] == (src / "pytorch_model_def.py").read_bytes()
    state = torch.load(io.BytesIO(members["model.pth"]), weights_only=True)
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    assert shapes == {"fc1.weight": (8, 8), "fc1.bias": (8,), "fc2.weight": (6, 8), "fc2.bias": (6,),
                      "fc3.weight": (1, 6), "fc3.bias": (1,)}
    # The saved weights are the ones the script evaluated: its printed test MSE, recomputed.
    w = {key: value.double() for key, value in state.items()}
    x = torch.from_numpy(np.load(test_dir / "x_test.npy")).double()
    y = torch.from_numpy(np.load(test_dir / "y_test.npy")).double()
    h = torch.sigmoid(torch.tanh(x @ w["fc1.weight"].T + w["fc1.bias"]) @ w["fc2.weight"].T + w["fc2.bias"])
    mse = float((((h @ w["fc3.weight"].T + w["fc3.bias"]).flatten() - y) ** 2).mean())
    assert _printed_float(log, "Test MSE:") == pytest.approx(mse, rel=1e-4)


@pytest.mark.slow
def test_pytorch_argparse_script_trains_and_saves_its_state_dict_and_inference_code(
        tmp_path: Path, cli_env: CapturedEnv) -> None:
    script = "train_deploy_pytorch_without_dependencies.py"
    channels = datagen.npy_regression(tmp_path / "data")
    rc, job = _train(cli_env, "pytorch_script_mode", "--entrypoint", script, *_data_flags(channels),
                     "--hp", "epochs=2", "--hp", "batch_size=32", "--hp", "learning_rate=0.05")
    _completed(rc, job)
    log = _log(cli_env, job)
    assert "batch_size = 32, epochs = 2, learning rate = 0.05" in log  # the hyperparameters arrived
    assert "epoch: 2 -> loss:" in log
    _check_neural_net(_members(job["artifacts"]["model"]), script, CORPUS / "pytorch_script_mode" / "src",
                      channels["test"], log)
    assert _members(job["artifacts"]["output"]) == {}


@pytest.mark.slow
def test_script_reading_absolute_opt_ml_paths_finds_its_channels(tmp_path: Path,
                                                                  cli_env: CapturedEnv) -> None:
    # The script opens /opt/ml/input/data/{train,test} literally, as in the container.
    script = "local_training_script.py"
    channels = datagen.npy_regression(tmp_path / "data")
    rc, job = _train(cli_env, "opt_ml_local_script", "--entrypoint", script, *_data_flags(channels))
    _completed(rc, job)
    log = _log(cli_env, job)
    assert "batch_size = 64, epochs = 1, learning rate = 0.1" in log
    _check_neural_net(_members(job["artifacts"]["model"]), script, CORPUS / "opt_ml_local_script" / "src",
                      channels["test"], log)


@pytest.mark.slow
def test_two_hosts_run_the_toolkits_gloo_collectives_with_their_own_process_groups(
        cli_env: CapturedEnv) -> None:
    # SDK v2 PyTorch estimator, instance_count=2, no `distribution`: each host runs the script once;
    # the script spawns its processes, takes its rank from SM_HOSTS and meets the others at
    # hosts[0] (algo-1), port 55555. --max-run bounds a rendezvous that never happens.
    rc, job = _train(cli_env, "two_host_gloo", "--classic", "--entrypoint", "distributed_operations.py",
                     "--hosts", "2", "--hp", "backend=gloo", "--hp", "num-cpus=1", "--max-run", "60")
    _completed(rc, job)
    for host, rank in (("algo-1", 0), ("algo-2", 1)):
        log = _log(cli_env, job, host)
        assert "Running 'gloo' backend on 2 nodes and 1 processes. World size is 2." in log
        assert f"Init process rank {rank} on host '{host}'" in log
        assert f"Rank: {rank}, Passing the barrier" in log
        # broadcast, all_reduce and send/recv checked their results (an assertion would show here)
        assert "Tensor AFTER send_recv: tensor([[1.]])" in log
        assert "Traceback" not in log
    assert _members(job["artifacts"]["model"]) == {"success": b"success"}


# -- scikit-learn --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sklearn_decision_tree_on_csv_channels_saves_a_model_that_predicts(tmp_path: Path,
                                                                           cli_env: CapturedEnv) -> None:
    import joblib

    channels = datagen.csv_label_first(tmp_path / "data", ("train", "validation"))
    rc, job = _train(cli_env, "sklearn_california", "--entrypoint", "scikit_learn_california.py",
                     *_data_flags(channels), "--hp", "max_leaf_nodes=8")
    _completed(rc, job)
    members = _members(job["artifacts"]["model"])
    assert set(members) == {"model.joblib"}
    model = joblib.load(io.BytesIO(members["model.joblib"]))
    assert type(model).__name__ == "DecisionTreeRegressor"
    assert model.get_params()["max_leaf_nodes"] == 8 and model.get_n_leaves() == 8
    validation = np.loadtxt(channels["validation"] / "validation.csv", delimiter=",")
    mse = float(np.mean((model.predict(validation[:, 1:]) - validation[:, 0]) ** 2))
    assert _printed_float(_log(cli_env, job), "RMSE:") == pytest.approx(mse, rel=1e-6)
    assert "Training Completed" in _log(cli_env, job)


@pytest.mark.slow
def test_sklearn_svm_on_npz_channels_saves_a_classifier_that_predicts(tmp_path: Path,
                                                                      cli_env: CapturedEnv) -> None:
    import joblib

    channels = datagen.mnist_npz(tmp_path / "data")
    rc, job = _train(cli_env, "sklearn_mnist_svm", "--entrypoint", "mnist.py", *_data_flags(channels),
                     "--hp", "epochs=200")
    _completed(rc, job)
    members = _members(job["artifacts"]["model"])
    assert set(members) == {"model.joblib"}
    clf = joblib.load(io.BytesIO(members["model.joblib"]))
    assert type(clf).__name__ == "SVC" and clf.max_iter == 200  # `--epochs 200` reached argparse
    test = np.load(channels["test"] / "test.npz")
    accuracy = float(np.mean(clf.predict(test["x"].astype(np.float32) / 255.0) == test["y"]))
    assert accuracy >= 0.95


@pytest.mark.slow
def test_sklearn_script_built_on_the_training_toolkit_needs_the_toolkit(tmp_path: Path,
                                                                        cli_env: CapturedEnv) -> None:
    # `from sagemaker_training import environment`: the SDK v2 framework images ship the toolkit;
    # this project does not install it (nor does the launcher emulate it), so without it the run must
    # fail and say which module is missing rather than something about the launcher.
    channels = datagen.csv_label_first(tmp_path / "data", ("train", "test"), rows=120, features=4)
    rc, job = _train(cli_env, "sklearn_toolkit_env",
                     "--entrypoint", "train_deploy_scikitlearn_without_dependencies.py",
                     *_data_flags(channels), "--hp", "n-estimators=5", "--hp", "max-depth=3")
    if importlib.util.find_spec("sagemaker_training") is None:
        assert (rc, job["status"], job["exit_code"]) == (1, "Failed", 1)
        assert "ModuleNotFoundError: No module named 'sagemaker_training'" in job["details"]["last_traceback"]
        assert "No module named 'sagemaker_training'" in _log(cli_env, job)
        assert _members(job["artifacts"]["model"]) == {}
        return
    import joblib  # the toolkit is installed here: the script must then simply work

    _completed(rc, job)
    model = joblib.load(io.BytesIO(_members(job["artifacts"]["model"])["model.joblib"]))
    assert (model.n_estimators, model.max_depth) == (5, 3)


# -- entry points, requirements, dependencies -----------------------------------------------------

def _not_the_launchers_python(job: dict[str, Any]) -> None:
    """A job with requirements runs in an environment of its own: pip never touches the launcher's."""
    assert str(Path(sys.executable).parent) not in job["details"]["image"], job["details"]["image"]


PARAMS = {"integer": "1", "boolean": "true", "float": "3.14", "string": "Hello World", "list": "[1, 2, 3]",
          "dict": json.dumps({"string": "value", "integer": 3, "float": 3.14, "list": [1, 2, 3],
                              "dict": {"key": "value"}, "boolean": True})}


@pytest.mark.slow
def test_sh_entrypoint_with_requirements_passes_the_sdks_hyperparameter_contract(
        cli_env: CapturedEnv) -> None:
    # The SDK's own integration test `test_hp_contract_basic_sh_script`: SourceCode(source_dir=
    # params_script, requirements="requirements.txt", entry_script="train.sh") with these values;
    # train.py asserts each one on argv, SM_HP_*, SM_HPS and SM_TRAINING_ENV, with omegaconf.
    hps = [arg for key, value in PARAMS.items() for arg in ("--hp", f"{key}={value}")]
    rc, job = _train(cli_env, "sh_params_script", "--entrypoint", "train.sh",
                     "--requirements", "requirements.txt", *hps)
    _completed(rc, job)
    log = _log(cli_env, job)
    for line in ("Do some extra work here...", "Executing Command: python train.py --integer 1",
                 "SM_HPS - Structured:", "Done!"):
        assert line in log
    assert "Traceback" not in log
    _not_the_launchers_python(job)
    # The script writes no artefact: both archives exist and are empty.
    assert _members(job["artifacts"]["model"]) == {} and _members(job["artifacts"]["output"]) == {}


@pytest.mark.slow
def test_classic_job_installs_its_requirements_file_and_imports_a_local_module(
        cli_env: CapturedEnv) -> None:
    # SDK v2 estimators install the source dir's requirements.txt without being told (contract §11).
    rc, job = _train(cli_env, "requirements_code_bundle", "--classic", "--entrypoint", "main_script.py")
    _completed(rc, job)
    log = _log(cli_env, job)
    for line in ("Trying to import local module...", "Trying to import module from requirements.txt...",
                 "Done"):
        assert line in log
    assert "requirements.txt" in cli_env.err  # the run said it installed it
    _not_the_launchers_python(job)


def test_classic_dependency_dir_is_importable_and_absolute_model_path_is_packed(
        tmp_path: Path, cli_env: CapturedEnv) -> None:
    # The SDK's `test_source_dirs`: a library shipped with `dependencies=` beside train.py, which
    # writes /opt/ml/model/answer by its absolute path. The library is the one that test writes.
    lib = tmp_path / "alexa"
    lib.mkdir()
    (lib / "__init__.py").write_text("def question(to_anything): return 42")
    rc, job = _train(cli_env, "classic_dependency_answer", "--classic", "--dependency", str(lib),
                     "--entrypoint", "train.py")
    _completed(rc, job)
    members = _members(job["artifacts"]["model"])
    assert set(members) == {"answer"}
    assert json.loads(members["answer"]) == 42


# -- a dependency package with relative imports ----------------------------------------------------

@pytest.mark.slow
def test_xgboost_script_imports_its_dependency_package_and_saves_the_last_folds_booster(
        tmp_path: Path, cli_env: CapturedEnv) -> None:
    # The notebook's SDK v2 XGBoost estimator: source_dir="xgboost_script", dependencies=
    # ["my_custom_library"] (a package whose __init__ re-exports its module by a relative import),
    # hyperparameters {"num_round": 6, "K": 5}, one `train` channel. src/ is the notebook's folder.
    import pickle

    import pandas as pd
    import xgboost as xgb

    src = CORPUS / "xgboost_custom_library" / "src"
    channels = datagen.housing_csv(tmp_path / "data")
    rc = main(["train", "--local", "--classic", "--source-dir", str(src / "xgboost_script"),
               "--dependency", str(src / "my_custom_library"),
               "--entrypoint", "train_deploy_xgboost_with_dependencies.py",
               "--name", "xgboost-custom-library", "--json", *_data_flags(channels),
               "--hp", "num_round=6", "--hp", "K=5"], cli_env)
    job = json.loads(cli_env.out)
    _completed(rc, job)
    log = _log(cli_env, job)
    # K = 5 folds (the toolkit passes `-K 5`, which argparse's `--K` does not take: the value comes
    # from its default, SM_HP_K), each trained for xgb.train's default 10 rounds: `num_round` goes
    # into `params`, which XGBoost ignores with a warning, in the container as here.
    finals = re.findall(r"^\[9\]\ttrain-rmse:([0-9.]+)\tvalidation-rmse:([0-9.]+)$", log, re.M)
    assert log.count("[0]\ttrain-rmse:") == len(finals) == 5 and "[10]\t" not in log
    assert re.search(r"num_round\W.*not used", log)
    # The printed average is that of the five folds' last validation RMSE.
    validation = [float(v) for _, v in finals]
    assert _printed_float(log, "RMSE average across folds:") == pytest.approx(np.mean(validation), rel=1e-4)

    members = _members(job["artifacts"]["model"])
    assert set(members) == {"xgboost-model"}
    booster = pickle.loads(members["xgboost-model"])
    assert isinstance(booster, xgb.Booster)
    assert (booster.num_boosted_rounds(), booster.num_features()) == (10, 8)
    tree = json.loads(booster.save_config())["learner"]["gradient_booster"]["tree_train_param"]
    assert (int(tree["max_depth"]), float(tree["eta"])) == (5, pytest.approx(0.2))  # argparse defaults

    def squared_error(frame: Any) -> float:
        predicted = booster.predict(xgb.DMatrix(frame.iloc[:, 1:]))  # as the script builds it
        return float(((predicted - frame[0].to_numpy()) ** 2).sum())

    # The saved booster is the last fold's: trained on 160 of train.csv's 200 rows, validated on the
    # other 40, so its squared error over the whole file is what its last printed line adds up to.
    train = pd.read_csv(channels["train"] / "train.csv", header=None)
    train_rmse, validation_rmse = (float(v) for v in finals[-1])
    assert squared_error(train) == pytest.approx(160 * train_rmse**2 + 40 * validation_rmse**2, rel=1e-3)
    # It predicts the houses of test.csv, which the script never read, well below their spread.
    test = pd.read_csv(channels["train"] / "test.csv", header=None)
    assert np.sqrt(squared_error(test) / len(test)) < 0.5 * float(test[0].std())
