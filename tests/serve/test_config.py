"""Several models at once from TF Serving's model config file."""

import shutil

import pytest
from starlette.testclient import TestClient

from s2s_keras.serve.app import create_app
from s2s_keras.serve.config import sources_from_config
from s2s_keras.serve.versions import VersionPolicy

CONFIG = """
model_config_list {
  config { name: "summarize" base_path: "%s" }
  config {
    name: "versioned"
    base_path: "%s"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 3 } }
    version_labels { key: "stable" value: 1 }
  }
}
"""


def test_a_config_file_serves_two_models_at_once(beam_export, tmp_path):
    base = tmp_path / "versioned"
    shutil.copytree(beam_export, base / "1")
    config = tmp_path / "models.config"
    config.write_text(CONFIG % (beam_export, base))
    sources = sources_from_config(config, log=lambda *_, **__: None)
    assert [source.name for source in sources] == ["summarize", "versioned"]
    assert sources[1].policy == VersionPolicy(latest=None, specific=(1, 3))
    assert sources[1].labels == {"stable": 1}
    app = create_app(models=sources)
    with TestClient(app) as client:
        for url in (
            "/v1/models/summarize:predict",
            "/v1/models/versioned/labels/stable:predict",
        ):
            for _ in range(100):  # the versioned one loads in the background
                response = client.post(url, json={"instances": ["a b"]})
                if response.status_code != 503:
                    break
                __import__("time").sleep(0.1)
            assert response.status_code == 200, response.text
            assert len(response.json()["predictions"]) == 1
        page = client.get("/?model=versioned").text
        assert "<h1>versioned</h1>" in page and 'href="/?model=summarize"' in page
        assert client.get("/?model=nope").status_code == 404
        status = client.get("/v1/models/versioned").json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [("1", "AVAILABLE")]


@pytest.mark.parametrize(
    "text, match",
    [
        ("model_config_list { config { name: 'a' } }", "needs a name and a base_path"),
        ("model_config_list {}", "lists no model"),
        ("nonsense {", "cannot read the model config file"),
        (
            "model_config_list { config { name: 'a' base_path: '%s' } "
            "config { name: 'a' base_path: '%s' } }",
            "names model 'a' twice",
        ),
    ],
)
def test_a_bad_config_file_raises_naming_the_problem(
    beam_export, tmp_path, text, match
):
    config = tmp_path / "models.config"
    config.write_text(text.replace("%s", str(beam_export)))
    with pytest.raises(ValueError, match=match):
        sources_from_config(config, log=lambda *_, **__: None)
