"""The V2 endpoints, /predict, /metrics and every bad request: a 4xx JSON error naming the problem."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import graft
from graft.errors import UsageError

from serve_helpers import TOKEN, b64, wait_ready

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _infer(client, model: str, data: list, name: str = "image", datatype: str = "BYTES", shape=None, **extra):
    body = {"inputs": [{"name": name, "datatype": datatype, "shape": shape if shape is not None else [len(data)], "data": data}], **extra}
    return client.post(f"/v2/models/{model}/infer", json=body, headers=AUTH)


def _files(root: Path) -> list[Path]:
    return sorted((root / "test").rglob("*.png"))


def test_health_metadata_and_docs(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/colours/ready").json() == {"name": "colours", "ready": True}
    meta = client.get("/v2/models/colours").json()
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}
    assert meta["parameters"]["classes"] == ["blue", "green", "red"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v2/models/{name}/infer", "/v2/models/{name}/predict", "/metrics"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_infer_answers_as_the_python_api(client, image_model, tiny_images):
    files = _files(tiny_images)[:3]
    r = _infer(client, "colours", [b64(f) for f in files], id="req-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "req-1" and body["model_name"] == "colours"
    proba = np.asarray(body["outputs"][0]["data"]).reshape(body["outputs"][0]["shape"])
    assert np.abs(proba - graft.load(image_model).predict_proba(files)).max() < 1e-5
    assert body["outputs"][1]["data"] == [f.parent.name for f in files]
    only = _infer(client, "colours", [b64(files[0])], outputs=[{"name": "label"}]).json()["outputs"]
    assert [o["name"] for o in only] == ["label"]


def test_predict_takes_uploaded_files_and_json_texts(client, tiny_images, text_model):
    files = _files(tiny_images)[:2]
    r = client.post("/v2/models/colours/predict", headers=AUTH,
                    files=[("files", (f.name, f.read_bytes(), "image/png")) for f in files])
    assert r.status_code == 200, r.text
    assert [(p["input"], p["label"]) for p in r.json()["predictions"]] == [(f.name, f.parent.name) for f in files]
    texts = ["fresh apple pie", "turbo engine"]
    r = client.post("/v2/models/topics/predict", headers=AUTH, json={"texts": texts})
    assert r.status_code == 200
    expected = graft.predict(text_model, texts)
    got = r.json()["predictions"]
    assert [p["label"] for p in got] == [e["label"] for e in expected]
    assert all(abs(p["probabilities"][c] - e["probabilities"][c]) < 1e-6 for p, e in zip(got, expected) for c in e["probabilities"])


def _truncated_png(path: Path) -> bytes:
    return path.read_bytes()[:200]


@pytest.mark.parametrize("case, status, words", [
    ("truncated image", 422, "cannot decode the image"),
    ("not base64", 422, "base64"),
    ("wrong input name", 400, "unknown input name 'pixels'"),
    ("wrong datatype", 400, "datatype must be BYTES"),
    ("shape mismatch", 400, "shape [3] says 3 elements, data has 1"),
    ("bad shape", 400, "shape' must be a list of non-negative integers"),
    ("2-d shape", 400, "shape must be [N] or [N, 1]"),
    ("no inputs", 400, "'inputs' must be a list of one input"),
    ("unknown output", 400, "unknown output(s) ['logits']"),
    ("too many inputs", 413, "more than the 8 one request may hold"),
    ("non-string data", 400, "BYTES data must be strings"),
])
def test_bad_infer_requests_get_a_4xx_naming_the_problem(client, tiny_images, case, status, words):
    good = b64(_files(tiny_images)[0])
    requests = {
        "truncated image": lambda: _infer(client, "colours", [__import__("base64").b64encode(_truncated_png(_files(tiny_images)[0])).decode()]),
        "not base64": lambda: _infer(client, "colours", ["%%% not base64 %%%"]),
        "wrong input name": lambda: _infer(client, "colours", [good], name="pixels"),
        "wrong datatype": lambda: _infer(client, "colours", [good], datatype="FP32"),
        "shape mismatch": lambda: _infer(client, "colours", [good], shape=[3]),
        "bad shape": lambda: _infer(client, "colours", [good], shape=[-1]),
        "2-d shape": lambda: _infer(client, "colours", [good], shape=[1, 3, 32, 32]),
        "no inputs": lambda: client.post("/v2/models/colours/infer", json={"inputs": []}, headers=AUTH),
        "unknown output": lambda: _infer(client, "colours", [good], outputs=[{"name": "logits"}]),
        "too many inputs": lambda: _infer(client, "colours", ["x"] * 9),
        "non-string data": lambda: _infer(client, "colours", [1]),
    }
    r = requests[case]()
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_malformed_json_oversized_body_unknown_model_and_token(client, tiny_images):
    r = client.post("/v2/models/colours/infer", content=b'{"inputs": [', headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post("/v2/models/colours/infer", content=b"[1, 2]", headers=AUTH)
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    r = client.post("/v2/models/colours/infer", content=b"x" * (64 * 1024 + 1), headers=AUTH)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = client.post("/v2/models/colours/infer", content=iter([b"x" * 40_000, b"y" * 40_000]), headers=AUTH)  # chunked
    assert r.status_code == 413
    r = client.post("/v2/models/nope/infer", json={"inputs": []}, headers=AUTH)
    assert r.status_code == 404 and "unknown model 'nope'" in r.json()["error"]
    assert client.get("/v2/models/nope").status_code == 404
    good = b64(_files(tiny_images)[0])
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [good]}]}
    assert client.post("/v2/models/colours/infer", json=body).status_code == 401
    assert client.post("/v2/models/colours/infer", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v2/models/colours").status_code == 200  # metadata needs no token


def test_bad_predict_requests(client, tiny_images):
    r = client.post("/v2/models/colours/predict", headers=AUTH, files=[("files", ("bad.png", b"\x89PNG\r\n\x1a\n garbage", "image/png"))])
    assert r.status_code == 422 and "bad.png" in r.json()["error"]
    r = client.post("/v2/models/colours/predict", headers=AUTH, json={"texts": ["a"]})
    assert r.status_code == 400 and "multipart" in r.json()["error"]
    r = client.post("/v2/models/topics/predict", headers=AUTH, json={"texts": "not a list"})
    assert r.status_code == 400 and "list of strings" in r.json()["error"]
    r = client.post("/v2/models/topics/predict", headers={**AUTH, "content-type": "text/plain"}, content=b"hello")
    assert r.status_code == 415
    r = client.post("/v2/models/colours/predict", headers=AUTH, files=[("other", (None, "just a field"))])
    assert r.status_code == 400 and "no files" in r.json()["error"]
    blank = io.BytesIO()
    Image.new("RGB", (1, 1)).save(blank, "PNG")
    r = client.post("/v2/models/colours/predict", headers=AUTH, files=[("files", ("dot.png", blank.getvalue(), "image/png"))])
    assert r.status_code == 200  # a 1-pixel image is an image


def test_metrics_count_requests_errors_and_batches(client, tiny_images):
    _infer(client, "colours", [b64(_files(tiny_images)[0])] * 2)
    client.post("/v2/models/nope/infer", json={}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'graft_requests_total{endpoint="/v2/models/{name}/infer",method="POST",status="200"}' in text
    assert 'graft_errors_total{status="404"}' in text
    assert 'graft_batch_size_count{model="colours"}' in text
    assert "graft_request_latency_seconds_bucket" in text


def test_not_ready_until_loaded_and_a_model_that_fails_to_load(image_model, tmp_path):
    from fastapi.testclient import TestClient

    from graft.serve import ServeSettings, create_app

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with TestClient(create_app([image_model, broken], ServeSettings())) as c:
        for _ in range(200):
            if c.get("/v2/models/colours/ready").status_code == 200:
                break
            __import__("time").sleep(0.02)
        assert c.get("/v2/models/colours/ready").status_code == 200
        r = c.get("/v2/health/ready")
        assert r.status_code == 503 and r.json() == {"ready": False}
        r = c.post("/v2/models/broken/infer", json={})
        assert r.status_code == 503 and "failed to load" in r.json()["error"]


def test_settings_and_model_list_are_checked(image_model, tmp_path):
    from graft.serve import ServeSettings, create_app

    with pytest.raises(UsageError, match="--max-batch"):
        ServeSettings(max_batch=0)
    with pytest.raises(UsageError, match="--backend"):
        ServeSettings(backend="tf")
    with pytest.raises(UsageError, match="--threads 0"):
        ServeSettings(threads=0)
    with pytest.raises(UsageError, match="graft export"):
        create_app([image_model], ServeSettings(backend="onnx"))
    with pytest.raises(UsageError, match="no config.json"):
        create_app([tmp_path], ServeSettings())
    with pytest.raises(UsageError, match="unique"):
        create_app([image_model, image_model], ServeSettings())


def test_models_it_cannot_answer_for_are_refused_before_start_up(tmp_path):
    from graft.serve import create_app

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    numbers = graft.from_arrays(x, x @ [1.0, -2.0, 0.5] + 0.1, target_type="regression", val_fraction=0.2)
    graft.probe(numbers, "identity", out=tmp_path / "numbers")
    with pytest.raises(UsageError, match="regression model; graft serve answers with class probabilities"):
        create_app([tmp_path / "numbers"])
    (tmp_path / "recommender").mkdir()
    (tmp_path / "recommender" / "config.json").write_text('{"format": "graft-recommender"}')
    with pytest.raises(UsageError, match="'graft-recommender' model"):
        create_app([tmp_path / "recommender"])


def test_onnx_backend_serves_an_exported_folder(image_model, tiny_images, tmp_path):
    pytest.importorskip("onnxruntime")
    from fastapi.testclient import TestClient

    from graft.serve import ServeSettings, create_app

    exported = tmp_path / "colours-onnx"
    graft.export_model(image_model, exported, quantize="static")
    files = _files(tiny_images)[:4]
    with TestClient(create_app([exported], ServeSettings(backend="onnx"))) as c:
        wait_ready(c)
        assert c.get("/v2/models/colours-onnx").json()["platform"] == "onnxruntime"
        body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [4], "data": [b64(f) for f in files]}]}
        out = c.post("/v2/models/colours-onnx/infer", json=body).json()["outputs"]
    proba = np.asarray(out[0]["data"]).reshape(out[0]["shape"])
    assert np.abs(proba - graft.load(image_model).predict_proba(files)).max() < 1e-4
    with TestClient(create_app([exported], ServeSettings(backend="onnx", int8=True))) as c:
        wait_ready(c)
        out = c.post("/v2/models/colours-onnx/infer", json=body).json()["outputs"]
    assert out[1]["data"] == [f.parent.name for f in files]  # the int8 graph answers
    with pytest.raises(UsageError, match="--int8 runs exported folders"):
        create_app([image_model], ServeSettings(int8=True))


def test_audio_model_takes_uploaded_clips_and_refuses_undecodable_audio(tmp_path):
    sf = pytest.importorskip("soundfile")
    from fastapi.testclient import TestClient

    from graft.serve import ServeSettings, create_app

    rng = np.random.default_rng(0)
    for label, freq in (("low", 220.0), ("high", 1760.0)):
        for i in range(6):
            t = np.arange(int(8000 * rng.uniform(0.4, 1.3))) / 8000
            (tmp_path / "clips" / label).mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / "clips" / label / f"{i}.wav", (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 8000)
    graft.probe(tmp_path / "clips", "test_audio", out=tmp_path / "tones")
    clips = sorted((tmp_path / "clips").rglob("*.wav"))
    with TestClient(create_app([tmp_path / "tones"], ServeSettings())) as c:
        wait_ready(c)
        r = c.post("/v2/models/tones/predict", files=[("files", (p.name, p.read_bytes(), "audio/wav")) for p in clips[:3]])
        assert r.status_code == 200, r.text
        assert [p["label"] for p in r.json()["predictions"]] == [p["label"] for p in graft.predict(tmp_path / "tones", clips[:3])]
        r = c.post("/v2/models/tones/predict", files=[("files", ("cut.wav", clips[0].read_bytes()[:30], "audio/wav"))])
        assert r.status_code == 422 and "cut.wav: cannot decode the audio" in r.json()["error"]
        body = {"inputs": [{"name": "audio", "datatype": "BYTES", "shape": [1], "data": [b64(clips[0])]}]}
        assert c.post("/v2/models/tones/infer", json=body).status_code == 200


def test_requests_leave_the_feature_cache_alone(client, tmp_path):
    """A server sees a stream of one-off items: caching each would grow the cache (and every lookup
    in it) for as long as it runs, so requests are embedded without it."""
    import os

    def cache_files() -> set[Path]:
        return set(Path(os.environ["GRAFT_CACHE"]).rglob("*.npz"))

    before = cache_files()
    fresh = []
    for i in range(3):  # content no test has cached before
        path = tmp_path / f"new_{i}.png"
        Image.fromarray(np.full((24, 24, 3), 37 * i + 11, np.uint8)).save(path)
        fresh.append(path)
    r = _infer(client, "colours", [b64(f) for f in fresh])
    assert r.status_code == 200, r.text
    r = client.post("/v2/models/topics/predict", headers=AUTH, json={"texts": ["a sentence never seen before 8731"]})
    assert r.status_code == 200, r.text
    assert cache_files() == before


def test_a_port_out_of_range_is_refused_before_the_models_load():
    from typer.testing import CliRunner

    from graft.cli.main import app

    result = CliRunner().invoke(app, ["serve", "/nonexistent-model", "--port", "70000"])
    assert result.exit_code == 2 and "--port" in result.output
    with pytest.raises(UsageError, match=r"port=70000 is outside its allowed range \[0, 65535\]"):
        graft.serve_models(["/nonexistent-model"], port=70000)


def test_uploads_are_decoded_as_files_are_read_exif_rotation_included(tmp_path):
    """A phone photo carries its rotation in EXIF: the server must see what graft.predict sees."""
    from graft.data.images import load_image
    from graft.serve.decode import decode_image

    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(np.arange(24 * 40 * 3, dtype=np.uint8).reshape(24, 40, 3)).save(path, exif=exif)
    decoded = decode_image(path.read_bytes(), "rotated.jpg")
    assert decoded.size == load_image(path).size == (24, 40)
    assert np.array_equal(np.asarray(decoded), np.asarray(load_image(path)))
