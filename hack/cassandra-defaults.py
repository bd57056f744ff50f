#!/usr/bin/env python3
"""Regenerate operators/cassandra/defaults/<line>.yaml: each release line's own cassandra.yaml defaults.

Maven Central, the only source of Cassandra here, carries no conf/cassandra.yaml, so the defaults are read from
the release itself: for every supported serverVersion (operators/cassandra/api.py SUPPORTED_VERSIONS) this
fetches cassandra-all and its runtime dependencies with Maven, and runs images/cassandra/DefaultYaml.java (the
program the Cassandra image uses for its own cassandra.yaml) on them. A line's file holds the defaults every
supported release of the line agrees on (a key whose default differs between patch releases is left to each
release, which applies its own), after the directives the stock conf/cassandra.yaml sets and Config leaves unset
(Cassandra refuses to start without partitioner and commitlog_sync).

    hack/cassandra-defaults.py          (Maven's repository: $SMACK_CACHE/images/m2, shared with the images)

Then it checks its work: for every supported release, the cassandra.yaml the operator renders from the new files
(operators/cassandra/resources.py, with the pod IP filled in) is loaded by that release's own loader
(hack/cassandra/LoadYaml.java), which refuses a key the release does not know or a value it cannot read.

Run it after changing SUPPORTED_VERSIONS; tests/unit/cassandra/test_config.py fails until then.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from operators.cassandra.api import SUPPORTED_VERSIONS, CassandraDatacenterSpec, release_line  # noqa: E402
from operators.cassandra.config import DEFAULTS_DIR, VERSIONS_HEADER  # noqa: E402
from operators.cassandra.resources import Datacenter, config_map  # noqa: E402

RECIPES = ROOT / "images" / "cassandra"
CACHE = Path(os.environ.get("SMACK_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "smack-operators")
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>dev.smack</groupId><artifactId>cassandra-defaults</artifactId><version>{v}</version><packaging>pom</packaging>
  <dependencies><dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId>
  <version>{v}</version></dependency></dependencies></project>
"""


def stock_directives(defaults: dict[str, object]) -> dict[str, object]:
    """What every release's stock conf/cassandra.yaml sets where Config has no default or another one: the
    Murmur3 partitioner and periodic commit log sync every 10 s (required; the period under the line's key,
    4.0: ``*_in_ms``, 4.1+: a duration), and ``disk_failure_policy: stop`` (Config: ignore, which keeps a node
    with a failed disk serving)."""
    period = ({"commitlog_sync_period": "10000ms"} if "commitlog_sync_period" in defaults
              else {"commitlog_sync_period_in_ms": 10000})
    return {"partitioner": "org.apache.cassandra.dht.Murmur3Partitioner", "commitlog_sync": "periodic", **period,
            "disk_failure_policy": "stop"}


def release_defaults(version: str) -> dict[str, object]:
    """The scalar Config defaults of cassandra-all ``version``, as DefaultYaml writes them.

    Unset doubles (NaN: 4.x's batch and group windows) are dropped: they mean 'not configured'."""
    work = CACHE / "cassandra-defaults" / version
    lib, out = work / "lib", work / "config.yaml"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "lib.complete").exists():
        (work / "pom.xml").write_text(POM.format(v=version))
        subprocess.run(["mvn", "-q", "-B", "-Dstyle.color=never", f"-Dmaven.repo.local={CACHE / 'images' / 'm2'}",
                        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={lib}"],
                       cwd=work, check=True)
        (work / "lib.complete").touch()
    java(version, RECIPES / "DefaultYaml.java", str(out))
    values = yaml.safe_load(out.read_text())
    return {k: v for k, v in values.items() if not (v == "NaN" or isinstance(v, float) and math.isnan(v))}


def java(version: str, source: Path, *args: str) -> None:
    """Compile ``source`` against cassandra-all ``version`` and run its class with ``args`` and the JDK options
    Cassandra's classes need (images/cassandra/jvm-server.options). Raises CalledProcessError."""
    work = CACHE / "cassandra-defaults" / version
    lib, classes = work / "lib", work / "classes"
    subprocess.run(["javac", "-nowarn", "--release", "11", "-d", str(classes), "-cp", f"{lib}/*", str(source)],
                   check=True)
    options = [o for o in (RECIPES / "jvm-server.options").read_text().splitlines() if o and not o.startswith("#")]
    subprocess.run(["java", "-XX:-UsePerfData", *options, "-Dlogback.configurationFile=" +
                    str(RECIPES / "logback-tools.xml"), "-cp", f"{classes}:{lib}/*", source.stem, *args], check=True)


def check_rendered(version: str) -> None:
    """Load the operator's cassandra.yaml for a node of ``version`` with the release's own loader."""
    spec = CassandraDatacenterSpec.model_validate({"clusterName": "check", "serverVersion": version})
    text = config_map(Datacenter("dc1", "ns", "uid", spec), "r1", {})["data"]["cassandra.yaml"]
    path = CACHE / "cassandra-defaults" / version / "rendered.yaml"
    path.write_text(text.replace("@POD_IP@", "10.0.0.1"))
    java(version, ROOT / "hack" / "cassandra" / "LoadYaml.java", str(path))


def line_file(line: str, releases: dict[str, dict[str, object]]) -> str:
    """The vendored file of ``line``: stock directives, then the defaults all ``releases`` (version -> defaults)
    share."""
    versions = list(releases)
    first = releases[versions[0]]
    shared = {k: v for k, v in first.items() if all(releases[o].get(k, object()) == v for o in versions[1:])}
    differ = sorted(set().union(*releases.values()) - set(shared))
    head = (f"# Cassandra {line}: the release's own cassandra.yaml defaults. Generated by hack/cassandra-defaults.py"
            f" from\n# cassandra-all on Maven Central (images/cassandra/DefaultYaml.java); do not edit.\n"
            f"{VERSIONS_HEADER}{' '.join(versions)}\n"
            "# Left to each release: nested options, maps, unset values"
            + (", and the defaults these releases disagree on:\n" + textwrap.fill(
                ", ".join(differ), 116, initial_indent="#   ", subsequent_indent="#   ") if differ else "") + "\n")
    directives = stock_directives(first)
    body = yaml.safe_dump(directives, sort_keys=False) + yaml.safe_dump(
        {k: v for k, v in shared.items() if k not in directives}, sort_keys=False, width=120)
    return head + body


def main() -> None:
    per_version = {v: release_defaults(v) for v in SUPPORTED_VERSIONS}
    lines: dict[str, list[str]] = {}
    for v in SUPPORTED_VERSIONS:
        lines.setdefault(release_line(v), []).append(v)
    DEFAULTS_DIR.mkdir(exist_ok=True)
    for line, versions in lines.items():
        path = DEFAULTS_DIR / f"{line}.yaml"
        path.write_text(line_file(line, {v: per_version[v] for v in versions}))
        print(f"{path.relative_to(ROOT)}: {len(yaml.safe_load(path.read_text()))} keys from {', '.join(versions)}")
    for v in SUPPORTED_VERSIONS:
        check_rendered(v)


if __name__ == "__main__":
    main()
