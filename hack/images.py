#!/usr/bin/env python3
"""Build the services' container images here, with no registry and no docker engine, and load them into the
real nodes' containerd.

    hack/images.sh build [NAME...]   image archives under $SMACK_CACHE/images/, cached by content
    hack/images.sh load [NAME...]    import into every containerd at /run/smack/real-*/containerd.sock
    hack/images.sh list              names, refs, and what is built

An image is at most two layers. The root layer is a Debian root filesystem from debootstrap (minbase plus
packages), shared by every image on the same root, so containerd stores it once. The app layer is what the
image's recipe, ``images/<recipe>.sh``, writes into ``$ROOT``: an overlayfs whose lower dir is the root, so the
recipe can ``chroot "$ROOT"`` (pip, useradd) and the upper dir holds only what it wrote. GNU tar writes each
layer, umoci (Debian) adds it to one OCI layout and sets the config, skopeo (Debian) exports each image as an
OCI archive (index.json naming the ref), which ``ctr images import`` reads.

Cache keys are sha256 over every input: the root's suite and packages; the recipe's text, the files it names,
the versions it is given and the image config. Nothing changed, nothing is rebuilt. Needs root (debootstrap,
mounts, chroot), debootstrap, umoci, skopeo; recipes also use gcc, go, mvn, javac, jar, pip.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HACK = Path(__file__).resolve().parent
REPO = HACK.parent
RECIPES = REPO / "images"
SOCKETS = "/run/smack/real-*/containerd.sock"
NAMESPACE = "k8s.io"
# What every root has: a shell and the tools to look at a pod from inside (`kubectl exec`).
TOOLS = ("bash", "coreutils", "iproute2", "procps", "netcat-openbsd", "dnsutils", "ca-certificates")
# Bumped when the way roots are finished or layers are written changes, so that cached ones are rebuilt.
FORMAT = 2
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def read_versions(path: Path = HACK / "versions.env") -> dict[str, str]:
    """KEY=VALUE lines of hack/versions.env (comments and blank lines skipped; values may be quoted)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = shlex.split(value)[0] if value else ""
    return out


@dataclass(frozen=True)
class Root:
    """A debootstrap root filesystem: Debian ``suite``, minbase plus ``packages``."""

    name: str
    suite: str
    packages: tuple[str, ...]

    def key(self, mirror: str) -> str:
        return digest({"suite": self.suite, "packages": sorted(self.packages), "mirror": mirror,
                       "format": FORMAT})


@dataclass(frozen=True)
class Image:
    """One image: its ``ref`` (as pods name it), the ``root`` it sits on (None: no root layer), the recipe
    (images/<recipe>.sh) that writes its app layer, the ``env`` the recipe gets, the repo files it reads
    (``inputs``, globs relative to the repo), and its OCI config (entrypoint, cmd, env, user, workdir)."""

    name: str
    ref: str
    root: str | None
    recipe: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    config_env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""

    def config(self) -> dict:
        return {"entrypoint": list(self.entrypoint), "cmd": list(self.cmd), "env": dict(self.config_env),
                "user": self.user, "workdir": self.workdir}


def digest(value: object) -> str:
    """sha256 hex of a JSON-able value, keys sorted."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def input_files(patterns: Iterable[str], repo: Path = REPO) -> list[Path]:
    """The repo files the globs name (directories walked; __pycache__ and *.pyc skipped), sorted."""
    files: set[Path] = set()
    for pattern in patterns:
        for hit in glob.glob(str(repo / pattern), recursive=True):
            path = Path(hit)
            walk = path.rglob("*") if path.is_dir() else [path]
            files.update(p for p in walk if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return sorted(files)


def image_key(image: Image, roots: Mapping[str, Root], mirror: str, repo: Path = REPO,
              recipes: Path = RECIPES) -> str:
    """The content key of an image: its root's key, its recipe's text, the files it reads, env and config."""
    parts: dict[str, object] = {"ref": image.ref, "env": dict(image.env), "config": image.config(), "format": FORMAT}
    if image.root:
        parts["root"] = roots[image.root].key(mirror)
    if image.recipe:
        parts["recipe"] = (recipes / f"{image.recipe}.sh").read_text()
    parts["files"] = {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in input_files(image.inputs, repo)}
    return digest(parts)


def catalogue(v: Mapping[str, str]) -> tuple[dict[str, Root], dict[str, Image]]:
    """Every root and image, from the versions in hack/versions.env."""
    java17 = "/usr/lib/jvm/java-17-openjdk-amd64"
    roots = {r.name: r for r in (
        Root("bookworm", "bookworm", TOOLS),
        # python3 for the Spark image's PySpark and the cqlsh-less Cassandra image's tooling; tini for Spark.
        Root("bookworm-java17", "bookworm", (*TOOLS, "openjdk-17-jre-headless", "python3", "tini")),
        # Cassandra 4.1 does not run on Java 17, and bookworm has no Java 11.
        Root("bullseye-java11", "bullseye", (*TOOLS, "openjdk-11-jre-headless", "python3")),
        Root("bookworm-python", "bookworm", (*TOOLS, "python3", "python3-venv")),
    )}
    images = [
        Image("pause", f"registry.k8s.io/pause:{v['PAUSE_VERSION']}", None, "pause",
              env={"PAUSE_VERSION": v["PAUSE_VERSION"], "KUBE_VERSION": v["KUBE_VERSION"]},
              entrypoint=("/pause",), user="65535:65535"),
        Image("base", f"smack-base:{v['BASE_SUITE']}", "bookworm", cmd=("bash",), config_env={"PATH": PATH}),
    ]
    for kafka in v["KAFKA_VERSIONS"].split():
        images.append(Image(
            f"kafka-{kafka}", f"apache/kafka:{kafka}", "bookworm-java17", "kafka",
            env={"KAFKA_VERSION": kafka, "SCALA_VERSION": v["KAFKA_SCALA_VERSION"],
                 "LOG4J_VERSION": v["LOG4J_VERSION"]},
            inputs=("images/kafka/*",),
            cmd=("/etc/kafka/docker/run",),
            config_env={"PATH": f"/opt/kafka/bin:{PATH}", "JAVA_HOME": java17}, user="1000:1000",
            workdir="/opt/kafka"))
    for cassandra in v["CASSANDRA_VERSIONS"].split():
        java11 = cassandra.startswith("4.")
        images.append(Image(
            f"cassandra-{cassandra}", f"cassandra:{cassandra}", "bullseye-java11" if java11 else "bookworm-java17",
            "cassandra", env={"CASSANDRA_VERSION": cassandra, "JAVA_MAJOR": "11" if java11 else "17"},
            inputs=("images/cassandra/*",), cmd=("cassandra", "-f"),
            config_env={"PATH": f"/opt/cassandra/bin:{PATH}", "CASSANDRA_HOME": "/opt/cassandra",
                        "CASSANDRA_CONF": "/etc/cassandra",
                        "JAVA_HOME": "/usr/lib/jvm/java-11-openjdk-amd64" if java11 else java17},
            user="999:999", workdir="/opt/cassandra"))
    spark = v["SPARK_VERSION"]
    images.append(Image(
        f"spark-{spark}", f"apache/spark:{spark}", "bookworm-java17", "spark",
        env={"SPARK_VERSION": spark, "SPARK_SCALA_VERSION": v["SPARK_SCALA_VERSION"]},
        inputs=("images/spark/*",), entrypoint=("/opt/entrypoint.sh",),
        config_env={"PATH": f"/opt/spark/bin:{PATH}", "SPARK_HOME": "/opt/spark", "JAVA_HOME": java17},
        user="185", workdir="/opt/spark/work-dir"))
    images.append(Image(
        "operators", "smack-operators:dev", "bookworm-python", "operators",
        inputs=("requirements-image.txt", "pyproject.toml", "README.md", "operators"),
        entrypoint=("python3", "-m", "operators"), cmd=("run",),
        config_env={"PATH": f"/opt/smack/bin:{PATH}", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
                    "USER": "smack"}, user="10001:10001"))
    images.append(Image(
        "client", "smack-client:dev", "bookworm-python", "client",
        env={"KAFKA_PYTHON_VERSION": v["CLIENT_KAFKA_PYTHON_VERSION"],
             "CASSANDRA_DRIVER_VERSION": v["CLIENT_CASSANDRA_DRIVER_VERSION"]},
        cmd=("sleep", "infinity"), config_env={"PATH": f"/opt/client/bin:{PATH}"}, user="10001:10001"))
    return roots, {i.name: i for i in images}


def normalise(ref: str) -> str:
    """A ref as containerd stores it: docker.io/library/ added as the kubelet does."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def archive_manifest(path: Path) -> dict:
    """The single manifest descriptor in an OCI archive's index.json: {digest, size, annotations}."""
    with tarfile.open(path) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        manifests = json.load(member)["manifests"]
    if len(manifests) != 1:
        raise ValueError(f"{path}: {len(manifests)} manifests in index.json, expected 1")
    return manifests[0]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(*args: str | os.PathLike, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=True, **kw)


class Builder:
    """Builds images into ``cache`` (``$SMACK_CACHE/images``): ``oci/`` the shared OCI layout (the roots as
    one-layer images), ``roots/<name>-<key>/`` the debootstrapped roots, ``archives/<name>-<key>.tar`` and
    ``.json`` each image's archive and record ({name, ref, key, digest, size, seconds}), and ``<name>.tar`` /
    ``<name>.json``, links to the archive of the image as it was last built. Archives and roots are kept by key,
    the newest ``KEEP`` of each name, so two checkouts sharing a cache do not rebuild each other's."""

    KEEP = 2

    def __init__(self, cache: Path, roots: Mapping[str, Root], images: Mapping[str, Image],
                 recipes: Path = RECIPES, repo: Path = REPO):
        self.cache = cache
        self.mirror = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
        self.roots, self.images = roots, images
        self.recipes, self.repo = recipes, repo
        self.layout = cache / "oci"
        self.archives = cache / "archives"

    def record(self, name: str) -> dict | None:
        """The record of the image as it was last built (whatever its key), None if never."""
        path = self.cache / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def key(self, name: str) -> str:
        return image_key(self.images[name], self.roots, self.mirror, self.repo, self.recipes)

    def build(self, name: str) -> dict:
        image = self.images[name]
        key = self.key(name)
        tar, meta = (self.archives / f"{name}-{key[:16]}{ext}" for ext in (".tar", ".json"))
        if tar.exists() and meta.exists():
            rec = json.loads(meta.read_text())
            log(f"{name}: cached ({image.ref}, {rec['digest'][:19]})")
            self.point(name, tar, meta)
            return rec
        start = time.monotonic()
        self.archives.mkdir(parents=True, exist_ok=True)
        if not (self.layout / "index.json").exists():
            run("umoci", "init", "--layout", self.layout)
        tag = f"{name}-{key[:16]}"
        if image.root:
            run("umoci", "tag", "--image", f"{self.layout}:{self.root_tag(image.root)}", tag)
        else:
            run("umoci", "new", "--image", f"{self.layout}:{tag}")
        try:
            if image.recipe:
                self.app_layer(image, tag)
            self.configure(image, tag)
            tmp = tar.with_name(tar.name + ".tmp")
            tmp.unlink(missing_ok=True)
            run("skopeo", "copy", "-q", f"oci:{self.layout}:{tag}", f"oci-archive:{tmp}:{normalise(image.ref)}")
            tmp.rename(tar)
        finally:
            run("umoci", "rm", "--image", f"{self.layout}:{tag}")  # the archive is the product
            self.gc()
        man = archive_manifest(tar)
        rec = {"name": name, "ref": normalise(image.ref), "key": key, "digest": man["digest"],
               "size": tar.stat().st_size, "seconds": round(time.monotonic() - start, 1)}
        meta.write_text(json.dumps(rec, indent=1) + "\n")
        self.point(name, tar, meta)
        self.prune(self.archives, rf"{re.escape(name)}-[0-9a-f]{{16}}\.tar", keep=tar)
        log(f"{name}: built {image.ref} {man['digest'][:19]} {rec['size'] / 2**20:.0f} MiB in {rec['seconds']} s")
        return rec

    def point(self, name: str, tar: Path, meta: Path) -> None:
        """Make <name>.tar and <name>.json link to this build (each link replaced atomically)."""
        for target in (tar, meta):
            link = self.cache / f"{name}{target.suffix}"
            tmp = link.with_name(link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target.relative_to(self.cache))
            os.replace(tmp, link)

    def prune(self, directory: Path, pattern: str, keep: Path) -> None:
        """Delete the entries of ``directory`` matching ``pattern`` (and their .json/.complete companions),
        but ``keep`` and the newest others up to KEEP in all."""
        found = sorted((p for p in directory.iterdir() if re.fullmatch(pattern, p.name) and p != keep),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        for old in found[self.KEEP - 1:]:
            for companion in (old.with_name(old.name.removesuffix(".tar") + ".json"),
                              old.with_name(old.name + ".complete")):
                companion.unlink(missing_ok=True)
            shutil.rmtree(old) if old.is_dir() else old.unlink()

    def gc(self) -> None:
        """Delete the layout's blobs that no tag reaches (what umoci gc does, without reading every blob)."""
        blobs = self.layout / "blobs" / "sha256"
        reached = set()
        # (umoci writes null, not [], for an empty list.)
        for desc in json.loads((self.layout / "index.json").read_text())["manifests"] or []:
            manifest = json.loads((blobs / desc["digest"].split(":", 1)[1]).read_text())
            layers = [x["digest"] for x in manifest.get("layers") or []]
            reached.update([desc["digest"], manifest["config"]["digest"], *layers])
        for blob in blobs.iterdir():
            if f"sha256:{blob.name}" not in reached:
                blob.unlink()

    def root_dir(self, name: str) -> Path:
        return self.cache / "roots" / f"{name}-{self.roots[name].key(self.mirror)[:16]}"

    def root_tag(self, name: str) -> str:
        """The layout tag of root ``name`` as a one-layer image, debootstrapped and inserted if missing."""
        root = self.roots[name]
        tag = f"root-{name}-{root.key(self.mirror)[:16]}"
        index = json.loads((self.layout / "index.json").read_text())
        if any(m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
               for m in index["manifests"] or []):
            return tag
        rootfs = self.root_dir(name)
        if not rootfs.with_name(rootfs.name + ".complete").exists():
            self.debootstrap(root, rootfs)
        log(f"root {name}: layer")
        run("umoci", "new", "--image", f"{self.layout}:{tag}")
        self.add_layer(tag, rootfs, f"debootstrap --variant=minbase {root.suite} +{','.join(root.packages)}")
        # Root tags whose root directory was pruned go too.
        for m in index["manifests"] or []:
            old = m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
            if re.fullmatch(r"root-(.+)-[0-9a-f]{16}", old) and not (self.cache / "roots" / old[5:]).exists():
                run("umoci", "rm", "--image", f"{self.layout}:{old}")
        self.gc()
        return tag

    def add_layer(self, tag: str, directory: Path, created_by: str) -> None:
        """Append ``directory``'s tree as a layer. GNU tar writes it (umoci 0.4.7's own ``insert`` leaves the
        archive without its end blocks, which GNU tar rejects); umoci compresses and records it."""
        layer = self.cache / "work" / f"{tag}.layer.tar"
        layer.parent.mkdir(parents=True, exist_ok=True)
        try:
            run("tar", "--create", "--file", layer, "--directory", directory, "--numeric-owner", "--sort=name", ".")
            run("umoci", "raw", "add-layer", "--image", f"{self.layout}:{tag}", "--history.created_by", created_by,
                layer)
        finally:
            layer.unlink(missing_ok=True)

    def debootstrap(self, root: Root, rootfs: Path) -> None:
        start = time.monotonic()
        tmp = rootfs.with_name(rootfs.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        debs = self.cache / "debs" / root.suite
        debs.mkdir(parents=True, exist_ok=True)
        log(f"root {root.name}: debootstrap {root.suite} +{','.join(root.packages)}")
        run("debootstrap", "--variant=minbase", f"--cache-dir={debs}", f"--include={','.join(root.packages)}",
            root.suite, tmp, self.mirror, stdout=subprocess.DEVNULL)
        # Caches, docs and the build host's name server do not belong in an image.
        # (Java's postinst scripts leave hsperfdata in /tmp, which a later JVM would delete: a whiteout.)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                     "usr/share/info", "var/log", "tmp"):
            for p in (tmp / junk).glob("*"):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        (tmp / "etc/resolv.conf").unlink(missing_ok=True)
        (tmp / "etc/resolv.conf").write_text("")
        (tmp / "etc/hostname").write_text("localhost\n")
        shutil.rmtree(rootfs, ignore_errors=True)
        tmp.rename(rootfs)
        # The marker lives beside the root, not in it: it must not end up in the layer.
        rootfs.with_name(rootfs.name + ".complete").write_text("")
        self.prune(rootfs.parent, rf"{re.escape(root.name)}-[0-9a-f]{{16}}", keep=rootfs)
        log(f"root {root.name}: {time.monotonic() - start:.0f} s")

    def app_layer(self, image: Image, tag: str) -> None:
        """Run the recipe against an overlay of the root and insert its upper dir as the app layer."""
        work = self.cache / "work" / image.name
        shutil.rmtree(work, ignore_errors=True)
        upper, ovl, merged, scratch = (work / d for d in ("upper", "ovl", "merged", "scratch"))
        for d in (upper, ovl, merged, scratch):
            d.mkdir(parents=True)
        mounts: list[Path] = []
        try:
            if image.root:
                lower = self.root_dir(image.root)
                run("mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={ovl}", merged)
                mounts.append(merged)
                # For recipes that chroot: /proc, /dev, and the host's name server and CA bundle (so pip trusts
                # what the host trusts), bound over files the root has, so nothing is copied into the layer.
                for src, dst, opts in (("proc", "proc", ["-t", "proc"]), ("/dev", "dev", ["--bind"]),
                                       ("/etc/resolv.conf", "etc/resolv.conf", ["--bind"]),
                                       ("/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-certificates.crt",
                                        ["--bind"])):
                    run("mount", *opts, src, merged / dst)
                    mounts.append(merged / dst)
                root_dir = merged
            else:
                root_dir = upper
            env = {**os.environ, **image.env, "ROOT": str(root_dir), "WORK": str(scratch), "REPO": str(self.repo),
                   "RECIPES": str(self.recipes), "DOWNLOADS": str(self.cache / "downloads"),
                   "M2_REPO": str(self.cache / "m2")}
            log(f"{image.name}: recipe images/{image.recipe}.sh")
            run("bash", "-euo", "pipefail", self.recipes / f"{image.recipe}.sh", env=env, cwd=scratch)
        finally:
            for m in reversed(mounts):
                subprocess.run(["umount", str(m)], check=False)
        whiteouts = [p for p in upper.rglob("*") if p.is_char_device() and p.lstat().st_rdev == 0]
        if whiteouts:
            raise RuntimeError(f"{image.name}: the recipe deleted files of the root: {whiteouts[:5]}")
        self.add_layer(tag, upper, f"images/{image.recipe}.sh")
        shutil.rmtree(work, ignore_errors=True)

    def configure(self, image: Image, tag: str) -> None:
        args = ["umoci", "config", "--image", f"{self.layout}:{tag}", "--os", "linux", "--architecture", "amd64",
                "--author", "smack-operators hack/images.py", "--config.user", image.user or "0:0",
                "--config.workingdir", image.workdir or "/", "--clear=config.entrypoint", "--clear=config.cmd",
                "--clear=config.env"]
        for e in image.entrypoint:
            args += ["--config.entrypoint", e]
        for c in image.cmd:
            args += ["--config.cmd", c]
        for k, val in {"PATH": PATH, **image.config_env}.items():
            args += ["--config.env", f"{k}={val}"]
        run(*args)


def containerds() -> list[str]:
    """Sockets of the real nodes' containerd instances."""
    return sorted(glob.glob(os.environ.get("SMACK_CONTAINERD_SOCKETS", SOCKETS)))


def present(sock: str) -> dict[str, str]:
    """ref -> manifest digest of the images in a containerd's k8s.io namespace."""
    out = run("ctr", "-a", sock, "-n", NAMESPACE, "images", "ls", capture_output=True, text=True).stdout
    refs = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3:
            refs[cols[0]] = cols[2]
    return refs


def load(builder: Builder, names: list[str]) -> None:
    """Import the named archives into every real node's containerd, the nodes in parallel; skip an image a
    node already has with the same manifest digest."""
    socks = containerds()
    if not socks:
        raise SystemExit(f"no containerd socket matches {SOCKETS}: start the real nodes first")
    records = {}
    for name in names:
        records[name] = builder.record(name)
        if records[name] is None:
            raise SystemExit(f"{name} is not built: hack/images.sh build {name}")

    def one(sock: str) -> None:
        have = present(sock)
        for name, rec in records.items():
            if have.get(rec["ref"]) == rec["digest"]:
                log(f"{sock}: {rec['ref']} present")
                continue
            start = time.monotonic()
            run("ctr", "-a", sock, "-n", NAMESPACE, "images", "import", (builder.cache / f"{name}.tar").resolve(),
                stdout=subprocess.DEVNULL)
            log(f"{sock}: imported {rec['ref']} in {time.monotonic() - start:.1f} s")

    with ThreadPoolExecutor(len(socks)) as pool:
        for done in [pool.submit(one, sock) for sock in socks]:
            done.result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hack/images.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "load", "list"))
    parser.add_argument("names", nargs="*", help="images (default: all)")
    args = parser.parse_args(argv)
    cache = Path(os.environ.get("SMACK_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "smack-operators") / "images"
    cache.mkdir(parents=True, exist_ok=True)
    builder = Builder(cache, *catalogue(read_versions()))
    names = args.names or list(builder.images)
    unknown = [n for n in names if n not in builder.images]
    if unknown:
        raise SystemExit(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(builder.images)}")
    if args.command == "list":
        for name, image in builder.images.items():
            rec = builder.record(name)
            state = "not built"
            if rec:
                fresh = rec["key"] == builder.key(name)
                state = f"{rec['digest'][:19]} {rec['size'] / 2**20:.0f} MiB{'' if fresh else ' (not current: build)'}"
            print(f"{name:18} {normalise(image.ref):44} {state}")
        return
    if args.command == "load":
        load(builder, names)  # archives are replaced by rename: a reader keeps the one it opened
        return
    for name in names:
        with open(cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per cache: they share the layout
            builder.build(name)


if __name__ == "__main__":
    main()
