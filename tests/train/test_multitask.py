"""Multi-task fine-tuning: one backbone, a head per task, per-task early stopping, one saved model."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import graft
from graft.data.dataset import Dataset
from graft.errors import GraftError, UsageError
from graft.train.config import TrainConfig
from graft.train.inputs import Split
from graft.train.multitask import build_multitask_trainer, combine, finetune_multitask, resolve_task_names

WARM = {"red": "warm", "green": "cool", "blue": "cool"}


def _config(**kw):
    return TrainConfig(**{**dict(epochs=3, lr=1e-2, batch_size=8, early_stopping=0, augment=False), **kw})


def _warmth(ds: Dataset) -> Dataset:
    """The same images and splits labelled by a coarser grouping of the colours: warm / cool."""
    classes = ["cool", "warm"]
    labels = [classes.index(WARM[ds.classes[y]]) for y in ds.labels]
    return Dataset(list(ds.items), np.array(labels), classes, ds.modality, ds.splits.copy(), source="warmth")


@pytest.fixture(scope="module")
def tasks(colour_images):
    colour = graft.read(colour_images)
    return {"colour": colour, "warmth": _warmth(colour)}


def test_two_tasks_train_one_model_that_predicts_and_evaluates_each(tasks, colour_images, tmp_path):
    out = tmp_path / "both"
    model = finetune_multitask(list(tasks.values()), "test_cnn", "fastai", task_names=list(tasks), out=out,
                               config=_config())
    record = model.lineage["tasks"]
    assert record["colour"]["metrics"]["test"]["accuracy"] >= 0.9
    assert record["warmth"]["metrics"]["test"]["accuracy"] >= 0.9
    assert model.lineage["metrics"]["test"]["mean_of_tasks"] == ["colour", "warmth"]

    config = json.loads((out / "config.json").read_text())
    assert config["tasks"] == {"colour": {"classes": ["blue", "green", "red"], "prefix": "head.colour."},
                               "warmth": {"classes": ["cool", "warm"], "prefix": "head.warmth."}}
    tensors = load_file(str(out / "model.safetensors"))
    assert tensors["head.colour.weight"].shape[0] == 3 and tensors["head.warmth.weight"].shape[0] == 2
    assert "head.weight" not in tensors

    loaded = graft.load(out)
    assert loaded.tasks == ["colour", "warmth"]
    reds = [p for p in tasks["colour"].test.items if "/red/" in str(p)]
    assert set(loaded.predict(reds, task="warmth")) == {"warm"}
    assert set(loaded.predict(reds)) == {"red"}  # the first task is the default
    for name in tasks:
        scored = graft.evaluate(out, tasks[name], task=name)
        assert scored["task"] == name
        assert scored["accuracy"] == pytest.approx(record[name]["metrics"]["test"]["accuracy"])
    assert graft.evaluate(out, tasks["warmth"])["task"] == "warmth"  # no task: the one whose classes match
    with pytest.raises(UsageError, match="no task 'shape'.*colour \\(3 classes\\), warmth \\(2 classes\\)"):
        loaded.predict(reds, task="shape")
    card = (out / "README.md").read_text()
    assert "multi-task classifier (colour: 3 classes, warmth: 2 classes)" in card
    assert "- task `warmth`: `cool`, `warm`" in card and "| warmth | test |" in card

    # as a source for the next task, its backbone keeps its feature size (read from the first task's head)
    assert graft.create_backbone(f"model:{out}").feature_dim == loaded.backbone().feature_dim
    # one ONNX graph holds one head: exporting would drop a task, so it is refused, not done silently
    with pytest.raises(UsageError, match="multi-task model"):
        graft.export_model(out, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_shared_items_run_once_and_disjoint_items_keep_their_own_rows():
    a = Split(["x", "y"], np.array([0, 1]), ["hx", "hy"])
    b = Split(["y", "z", "z"], np.array([2, 3, 4]), ["hy", "hz", "hz"])
    both = combine([a, b])
    assert both.items == ["x", "y", "z", "z"]
    assert both.labels.tolist() == [[0, -1], [1, 2], [-1, 3], [-1, 4]]


def test_items_held_out_for_one_task_but_trained_by_another_are_reported(caplog):
    from graft.train.multitask import _warn_overlap

    def split(*hashes):
        return Split(list(hashes), np.zeros(len(hashes)), list(hashes))

    same = {"train": split("a", "b"), "val": split("c"), "test": split("d")}
    _warn_overlap(["fine", "coarse"], {"fine": same, "coarse": same})
    assert not caplog.records  # the same items with the same splits: nothing held out was trained on
    _warn_overlap(["fine", "coarse"], {"fine": same, "coarse": {**same, "test": split("a", "d")}})
    assert "1 item(s) of task coarse's test split train another task" in caplog.text


def test_a_task_that_stops_improving_stops_training_while_the_other_goes_on(tasks, monkeypatch):
    trainer, _, _ = build_multitask_trainer(tasks, "test_cnn", _config(schedule="full", epochs=5, early_stopping=1))
    n_all = len(trainer._epoch_order())
    scripted = iter([0.5, 0.6, 0.7, 0.8, 0.9])  # colour improves every epoch, warmth never after epoch 0

    def evaluate(start, split=None):
        acc = next(scripted)
        per = {"colour": {"accuracy": acc, "macro_f1": acc, "loss": 1 - acc, "n": 1},
               "warmth": {"accuracy": 0.5, "macro_f1": 0.5, "loss": 0.5, "n": 1}}
        return {"accuracy": (acc + 0.5) / 2, "macro_f1": (acc + 0.5) / 2, "loss": (1.5 - acc) / 2, "n": 2, "tasks": per}

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    heads = []
    trainer.on_epoch = lambda record: heads.append(trainer.model.head[1].weight.detach().clone())
    result = trainer.run()
    assert len(result.history) == 5 and result.best_epoch == 4  # the mean went on improving
    state = trainer.state.tasks
    assert state["warmth"]["stopped_epoch"] == 1 and state["warmth"]["best_epoch"] == 0
    assert state["colour"]["stopped_epoch"] is None
    assert torch.equal(heads[1], heads[-1])  # the stopped task's head no longer moves
    assert not torch.equal(heads[0], heads[1])
    assert [r["val_tasks"]["warmth"]["stopped"] for r in result.history] == [False, True, True, True, True]
    # only items of tasks still training are drawn (all items here are labelled by both tasks)
    assert len(trainer._epoch_order()) == n_all


def test_training_ends_when_every_task_has_stopped(tasks, monkeypatch):
    trainer, _, _ = build_multitask_trainer(tasks, "test_cnn", _config(schedule="full", epochs=6, early_stopping=2))
    scores = iter([0.5, 0.6, 0.55, 0.55, 0.55, 0.55])  # colour stalls after epoch 1; warmth never improves

    def evaluate(start, split=None):
        acc = next(scores)
        per = {"colour": {"accuracy": acc, "macro_f1": acc, "loss": 1 - acc, "n": 1},
               "warmth": {"accuracy": 0.5, "macro_f1": 0.5, "loss": 0.5, "n": 1}}
        return {"accuracy": 0.7 + 0.01 * len(trainer.state.history), "macro_f1": 0.5, "loss": 0.5, "n": 2,
                "tasks": per}  # a mean that keeps rising: only the tasks' own stopping can end the run

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    result = trainer.run()
    assert trainer.state.tasks["warmth"]["stopped_epoch"] == 2
    assert trainer.state.tasks["colour"]["stopped_epoch"] == 3
    assert len(result.history) == 4


def test_items_of_a_stopped_task_leave_the_epoch(colour_images, tiny_images):
    colour, other = graft.read(colour_images), graft.read(tiny_images)
    trainer, _, _ = build_multitask_trainer({"a": colour, "b": other}, "test_cnn", _config())
    both = len(trainer._epoch_order())
    trainer.state.tasks["b"]["stopped_epoch"] = 0
    assert len(trainer._epoch_order()) == len(colour.train) < both


def test_tasks_must_share_a_modality(colour_images, tiny_text_csv, tmp_path):
    with pytest.raises(UsageError, match="same kind of input.*image.*text"):
        finetune_multitask([colour_images, tiny_text_csv], "test_cnn", out=tmp_path / "m", config=_config())
    assert not (tmp_path / "m").exists()


def test_task_names_are_checked_before_any_data_is_read(tmp_path):
    assert resolve_task_names([tmp_path / "fashion", tmp_path / "coarse.csv"]) == ["fashion", "coarse"]
    assert resolve_task_names([tmp_path / "a" / "data", tmp_path / "b" / "data"]) == ["data", "data_2"]
    with pytest.raises(UsageError, match="two or more datasets"):
        resolve_task_names([tmp_path / "only"])
    with pytest.raises(UsageError, match="one name per dataset"):
        resolve_task_names(["a", "b"], ["x"])
    with pytest.raises(UsageError, match="more than once"):
        resolve_task_names(["a", "b"], ["x", "x"])
    with pytest.raises(UsageError, match="letters, digits"):
        resolve_task_names(["a", "b"], ["x", "no spaces"])


def test_a_task_head_that_does_not_match_its_classes_is_refused(tasks, tmp_path):
    out = tmp_path / "m"
    finetune_multitask(list(tasks.values()), "test_cnn", "fastai", task_names=list(tasks), out=out,
                       config=_config(epochs=1))
    config = json.loads((out / "config.json").read_text())
    config["tasks"]["warmth"]["classes"].append("hot")
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(GraftError, match="task 'warmth' lists 3 classes but the head .* has 2 outputs"):
        graft.load(out)


def test_a_single_task_model_refuses_a_task(colour_images, tmp_path):
    model = graft.finetune(colour_images, "test_cnn", "fastai", config=_config(epochs=1))
    with pytest.raises(UsageError, match="single-task model"):
        model.predict(list(graft.read(colour_images).test.items[:1]), task="colour")


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tasks, tmp_path):
    data, names = list(tasks.values()), list(tasks)
    config = _config(schedule="fastai", epochs=3, early_stopping=1)
    full = finetune_multitask(data, "test_cnn", "fastai", task_names=names, out=tmp_path / "full", config=config)

    class Interrupt(Exception):
        pass

    def stop_at_epoch_two(record):  # the checkpoint then holds epochs 0 and 1
        if record["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        finetune_multitask(data, "test_cnn", "fastai", task_names=names, out=tmp_path / "resumed", config=config,
                           on_epoch=stop_at_epoch_two)
    assert (tmp_path / ".resumed.train" / "checkpoint.pt").is_file()
    resumed = finetune_multitask(data, "test_cnn", "fastai", task_names=names, out=tmp_path / "resumed",
                                 config=config, resume=True)
    assert resumed.lineage["settings"]["multi_task"] == full.lineage["settings"]["multi_task"]
    a, b = load_file(str(tmp_path / "full" / "model.safetensors")), load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


def test_text_tasks_with_lora_save_adapters_and_a_head_per_task(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("peft")
    texts = ["apple banana cherry", "ripe mango and pear", "fresh apple pie", "pear and plum jam mango",
             "engine wheel gearbox", "diesel engine and turbo", "gearbox oil change", "turbo engine racing car"] * 2
    words = sorted({w for t in texts for w in t.split()})
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizer(str(bert / "vocab.txt")).save_pretrained(str(bert))
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(
        vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32)).save_pretrained(str(bert))
    splits = np.array(["train"] * 8 + ["val"] * 8, dtype=object)
    topic = Dataset(texts, np.array([0] * 4 + [1] * 4 + [0] * 4 + [1] * 4), ["fruit", "cars"], "text", splits,
                    source="topic")
    length = Dataset(texts, np.array([int(len(t.split()) > 3) for t in texts]), ["short", "long"], "text",
                     splits.copy(), source="length")
    out = tmp_path / "m"
    finetune_multitask([topic, length], f"hf:{bert}", "full", task_names=["topic", "length"], out=out,
                       config=_config(epochs=1, batch_size=4, lora=2))
    tensors = load_file(str(out / "model.safetensors"))
    assert any(k.startswith("lora.") for k in tensors) and not any(k.startswith("backbone.") for k in tensors)
    assert {"head.topic.weight", "head.length.weight"} <= set(tensors)
    loaded = graft.load(out)
    assert loaded.predict(["apple banana cherry"], task="length")[0] in {"short", "long"}
    assert loaded.predict(["apple banana cherry"], task="topic")[0] in {"fruit", "cars"}
