"""hack/images.py, the image tool: cache keys, the catalogue against the operators' defaults, and the archive it
writes for a tiny image (the real images are built by `make images`, not by the tests)."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import shutil
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from operators.cassandra import api as cassandra_api
from operators.kafka import api as kafka_api

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("smack_images", ROOT / "hack" / "images.py")
images = importlib.util.module_from_spec(_spec)
sys.modules["smack_images"] = images  # dataclasses look their module up by name
_spec.loader.exec_module(images)

VERSIONS = images.read_versions(ROOT / "hack" / "versions.env")
ROOTS, IMAGES = images.catalogue(VERSIONS)
MIRROR = "http://deb.debian.org/debian"


def key(image, repo=ROOT, recipes=ROOT / "images", roots=ROOTS):
    return images.image_key(image, roots, MIRROR, repo, recipes)


def test_every_image_has_its_recipe_and_a_root_that_exists():
    for image in IMAGES.values():
        assert image.root is None or image.root in ROOTS, image.name
        if image.recipe:
            assert (ROOT / "images" / f"{image.recipe}.sh").is_file(), image.name
        key(image)  # every input it names can be read


def test_the_images_carry_the_refs_the_operators_default_to():
    refs = {image.ref for image in IMAGES.values()}
    kafka = VERSIONS["KAFKA_VERSIONS"].split()
    cassandra = VERSIONS["CASSANDRA_VERSIONS"].split()
    assert kafka_api.DEFAULT_VERSION in kafka and set(kafka) <= set(kafka_api.SUPPORTED_VERSIONS)
    assert cassandra_api.DEFAULT_VERSION in cassandra and set(cassandra) <= set(cassandra_api.SUPPORTED_VERSIONS)
    assert {f"apache/kafka:{v}" for v in kafka} <= refs
    assert {f"cassandra:{v}" for v in cassandra} <= refs
    assert f"apache/spark:{VERSIONS['SPARK_VERSION']}" in refs
    assert {"smack-operators:dev", f"registry.k8s.io/pause:{VERSIONS['PAUSE_VERSION']}"} <= refs
    # Cassandra 4.x does not run on Java 17: it gets the Java 11 root.
    for v in cassandra:
        root = IMAGES[f"cassandra-{v}"].root
        assert ("java11" in root) == v.startswith("4."), (v, root)


def test_key_is_stable_and_changes_with_every_input(tmp_path):
    recipes = tmp_path / "images"
    (recipes / "app").mkdir(parents=True)
    (recipes / "app.sh").write_text("echo one > \"$ROOT/one\"\n")
    (recipes / "app" / "conf").write_text("a=1\n")
    image = images.Image("app", "smack.test/app:1", "bookworm", "app", env={"V": "1"}, inputs=("images/app/*",),
                         cmd=("run",))
    first = key(image, tmp_path, recipes)
    assert key(image, tmp_path, recipes) == first

    changed = {
        "env": key(replace(image, env={"V": "2"}), tmp_path, recipes),
        "config": key(replace(image, cmd=("run", "--fast")), tmp_path, recipes),
        "ref": key(replace(image, ref="smack.test/app:2"), tmp_path, recipes),
        "root": key(replace(image, root="bullseye-java11"), tmp_path, recipes),
        "root packages": key(image, tmp_path, recipes,
                             {**ROOTS, "bookworm": images.Root("bookworm", "bookworm", ("bash", "curl"))}),
    }
    (recipes / "app" / "conf").write_text("a=2\n")
    changed["input file"] = key(image, tmp_path, recipes)
    (recipes / "app" / "conf").write_text("a=1\n")
    assert key(image, tmp_path, recipes) == first
    (recipes / "app.sh").write_text("echo two > \"$ROOT/two\"\n")
    changed["recipe"] = key(image, tmp_path, recipes)
    for what, value in changed.items():
        assert value != first, f"the key ignores the {what}"
    assert len(set(changed.values())) == len(changed)


def test_input_files_walk_directories_and_skip_bytecode(tmp_path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("")
    (tmp_path / "pkg" / "b.pyc").write_text("")
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_text("")
    assert images.input_files(["pkg"], tmp_path) == [tmp_path / "pkg" / "a.py"]


@pytest.mark.parametrize(("ref", "stored"), [
    ("cassandra:5.0.5", "docker.io/library/cassandra:5.0.5"),
    ("apache/kafka:4.1.1", "docker.io/apache/kafka:4.1.1"),
    ("registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10.2"),
    ("localhost/x:1", "localhost/x:1"),
    ("registry:5000/x:1", "registry:5000/x:1"),
])
def test_refs_are_stored_as_containerd_and_the_kubelet_name_them(ref, stored):
    assert images.normalise(ref) == stored


def test_versions_env_is_read_with_quotes_and_comments(tmp_path):
    path = tmp_path / "versions.env"
    path.write_text('# comment\nA=1\n\nB="x y"\n')
    assert images.read_versions(path) == {"A": "1", "B": "x y"}


needs_tools = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("umoci", "skopeo")),
    reason="writing an image needs root, umoci and skopeo (Debian packages)")


@needs_tools
def test_a_tiny_image_is_written_as_an_oci_archive_and_then_cached(tmp_path):
    recipes = tmp_path / "images"
    recipes.mkdir()
    (recipes / "tiny.sh").write_text(
        'mkdir -p "$ROOT/bin"; printf hello > "$ROOT/bin/hello"; chmod 755 "$ROOT/bin/hello"\n')
    tiny = images.Image("tiny", "smack.test/tiny:1", None, "tiny", entrypoint=("/bin/hello",), cmd=("world",),
                        config_env={"A": "1"}, user="10001:10001", workdir="/bin")
    builder = images.Builder(tmp_path / "cache", {}, {"tiny": tiny}, recipes=recipes, repo=tmp_path)
    (tmp_path / "cache").mkdir()
    record = builder.build("tiny")

    archive = tmp_path / "cache" / "tiny.tar"
    with tarfile.open(archive) as tar:
        def blob(digest: str) -> bytes:
            return tar.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}").read()

        index = json.load(tar.extractfile("index.json"))
        assert json.load(tar.extractfile("oci-layout"))["imageLayoutVersion"] == "1.0.0"
        [desc] = index["manifests"]
        assert desc["annotations"]["org.opencontainers.image.ref.name"] == "smack.test/tiny:1"
        assert desc["digest"] == record["digest"]
        manifest = json.loads(blob(desc["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        [layer] = manifest["layers"]
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        # Read to its end: a layer without its end blocks (umoci 0.4.7's insert) raises here.
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as files:
            members = {m.name.removeprefix("./"): m for m in files}
            assert files.extractfile(members["bin/hello"]).read() == b"hello"
            assert members["bin/hello"].mode & 0o777 == 0o755 and members["bin/hello"].uid == 0
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["Entrypoint"] == ["/bin/hello"] and config["config"]["Cmd"] == ["world"]
    assert config["config"]["User"] == "10001:10001" and config["config"]["WorkingDir"] == "/bin"
    assert "A=1" in config["config"]["Env"] and any(e.startswith("PATH=") for e in config["config"]["Env"])
    assert record["ref"] == "smack.test/tiny:1" and record["key"] == builder.key("tiny")

    # Nothing changed: the archive is not written again. The recipe changed: it is.
    written = archive.stat().st_mtime_ns
    assert builder.build("tiny") == record and archive.stat().st_mtime_ns == written
    (recipes / "tiny.sh").write_text('mkdir -p "$ROOT/bin"; printf bye > "$ROOT/bin/hello"\n')
    assert builder.build("tiny")["digest"] != record["digest"]
    assert archive.resolve() != (tmp_path / "cache" / "archives" / f"tiny-{record['key'][:16]}.tar")
    # Both archives stay (KEEP = 2); the layout keeps no image tags, so no blob is left in it.
    assert len(list((tmp_path / "cache" / "archives").glob("tiny-*.tar"))) == 2
    assert not any((tmp_path / "cache" / "oci" / "blobs" / "sha256").iterdir())
