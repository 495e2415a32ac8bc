"""Helm's chart rules, against Helm itself: chart directories of the shapes real charts
have, each packaged by Helm 4.3's library and pushed by helm-oci. Both package or both
refuse; where both package, the archives hold the same files and the config blobs say the
same."""
import io
import json
import subprocess
import sys
import tarfile

import pytest
import yaml

from conftest import HELM4, write_chart

V2 = "apiVersion: v2\nname: corpus\nversion: 0.1.0\n"


def sub(name, version="1.0.0"):
    return f"apiVersion: v2\nname: {name}\nversion: {version}\n"


def sub_tgz(name, files):
    """A vendored subchart archive, as `helm dependency update` leaves in charts/."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in {"Chart.yaml": sub(name), **files}.items():
            info = tarfile.TarInfo(f"{name}/{path}")
            data = data.encode() if isinstance(data, str) else data
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


DEPENDS_ON_REDIS = V2 + "dependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n"

# (id, files of the chart, what helm-oci says when it refuses, or None when it packages)
CORPUS = [
    ("plain", {"Chart.yaml": V2}, None),
    ("local YAML tags (CloudFormation's) in values.yaml and Chart.yaml", {
        "Chart.yaml": V2 + "description: !foo tagged\n",
        "values.yaml": "cfn:\n  Bucket: !Ref MyBucket\n  Name: !Sub '${AWS::StackName}-x'\n"
                       "  If: !If [c, !Ref a, 2]\n  Map: !foo {x: 1}\n"}, None),
    ("a Chart.lock whose time Go cannot read", {
        "Chart.yaml": V2, "Chart.lock": 'dependencies: []\ndigest: sha256:x\ngenerated: "2024-01-01 10:00:00"\n'},
     "cannot load Chart.lock: generated"),
    ("a Chart.lock whose dependencies are no list", {"Chart.yaml": V2, "Chart.lock": "dependencies: {}\n"},
     "cannot load Chart.lock"),
    ("an empty Chart.lock, which Helm leaves out", {"Chart.yaml": V2, "Chart.lock": "# nothing\n"}, None),
    ("v-prefixed version", {"Chart.yaml": "apiVersion: v2\nname: corpus\nversion: v1.2.3\n"}, None),
    # go-yaml reads an escaped single quote in double quotes, which libyaml 0.2 refuses...
    ("an escaped quote in double quotes", {
        "Chart.yaml": V2 + 'description: "It\\\'s a chart, \\"quoted\\" \\\\\\\' too"\n',
        "values.yaml": 'msg: "don\\\'t"\nkept: it\\\'s\n'}, None),
    # ...and refuses an escaped slash, which libyaml 0.2 reads.
    ("an escaped slash in double quotes", {"Chart.yaml": V2 + 'home: "https:\\/\\/example.com"\n'},
     "found unknown escape character"),
    ("an escaped slash in a values file", {"Chart.yaml": V2, "values.yaml": 'url: "https:\\/\\/example.com"\n'},
     "found unknown escape character"),
    ("short version", {"Chart.yaml": "apiVersion: v2\nname: corpus\nversion: 1.2\n"}, None),
    ("a number as version", {"Chart.yaml": "apiVersion: v2\nname: corpus\nversion: 3\n"}, None),
    ("prerelease and build", {"Chart.yaml": "apiVersion: v2\nname: corpus\nversion: 1.0.0-rc.1+build.7\n"}, None),
    ("no apiVersion", {"Chart.yaml": "name: corpus\nversion: 0.1.0\n"}, None),
    ("byte-order mark", {"Chart.yaml": "\ufeff" + V2, "values.yaml": "\ufeffa: 1\n"}, None),
    ("UTF-16 big-endian values.yaml", {"Chart.yaml": V2, "values.yaml": "\ufeffa: 1\nb:\n  c: \u00fc\n".encode("utf-16-be")},
     None),
    ("UTF-16 little-endian values.yaml, which Helm's line reader leaves a byte short",
     {"Chart.yaml": V2, "values.yaml": "\ufeffa: 1\nb: 2\n".encode("utf-16-le")}, "incomplete UTF-16 character"),
    ("repeated key", {"Chart.yaml": "apiVersion: v2\nname: first\nname: corpus\nversion: 0.1.0\n"}, None),
    ("null annotation", {"Chart.yaml": V2 + "annotations:\n  foo:\n  bar: baz\n"}, None),
    ("numeric appVersion", {"Chart.yaml": V2 + "appVersion: 1.10\n"}, None),
    ("library type", {"Chart.yaml": V2 + "type: library\n"}, None),
    ("full metadata", {"Chart.yaml": V2 + "description: 'A <full> chart & more'\nhome: https://example.com\n"
                       "sources: [https://a, https://b]\nkeywords: [alpha, beta]\nkubeVersion: '>=1.20'\n"
                       "maintainers:\n- name: A\n  email: a@example.com\n- name: B\n  url: https://b\n"
                       "annotations: {category: Database, licenses: Apache-2.0}\ndeprecated: true\n"
                       "icon: https://example.com/icon.png\n"}, None),
    ("vendored subchart archive", {"Chart.yaml": DEPENDS_ON_REDIS,
                                   "charts/redis-1.2.3.tgz": sub_tgz("redis", {"values.yaml": "port: 6379\n"})}, None),
    ("vendored subchart directory with its own subchart", {
        "Chart.yaml": DEPENDS_ON_REDIS, "charts/redis/Chart.yaml": sub("redis"),
        "charts/redis/charts/common/Chart.yaml": sub("common"), "charts/redis/templates/a.yaml": "a: 1\n"}, None),
    ("dependency with alias and condition", {
        "Chart.yaml": V2 + "dependencies:\n- name: db\n  alias: primary\n  condition: primary.enabled\n"
                           "  tags: [back]\n  version: ~1.0\n  repository: '@repo'\n  import-values: [data]\n",
        "charts/db/Chart.yaml": sub("db")}, None),
    ("charts/_helpers and .gitkeep", {"Chart.yaml": V2, "charts/_helpers/x.tpl": "x", "charts/.gitkeep": ""}, None),
    ("v1 with requirements.yaml", {
        "Chart.yaml": "apiVersion: v1\nname: corpus\nversion: 0.1.0\n",
        "requirements.yaml": "dependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n",
        "requirements.lock": "dependencies: []\ndigest: x\n", "Chart.lock": "dependencies: []\n",
        "charts/redis/Chart.yaml": sub("redis")}, None),
    ("v2 with requirements.yaml", {"Chart.yaml": V2, "requirements.yaml": "dependencies: []\n",
                                   "Chart.lock": "dependencies: []\ndigest: sha256:x\n"}, None),
    (".helmignore", {"Chart.yaml": V2, ".helmignore": "*.bak\nsecret/\n", "a.bak": "x", "secret/key": "k",
                     "templates/.hidden": "h", "templates/ok.yaml": "ok: 1\n"}, None),
    ("values.schema.json", {"Chart.yaml": V2, "values.schema.json": '{"type": "object"}'}, None),
    # Helm's `!` keeps only what it names: here Chart.yaml and values.yaml, not templates/.
    (".helmignore negation", {"Chart.yaml": V2, ".helmignore": "*.md\n!*.yaml\n", "NOTES.md": "n", "notes.txt": "t",
                              "values.yaml": "a: 1\n", "templates/cm.yaml": "a: 1\n"}, None),
    (".helmignore with a byte-order mark", {"Chart.yaml": V2, ".helmignore": "\ufeffsecret.txt\n", "secret.txt": "s"},
     None),
    # YAML as go-yaml v2 reads it (YAML 1.1), typed as sigs.k8s.io/yaml and Go's JSON type it.
    ("YAML 1.1 numbers for text", {"Chart.yaml": "apiVersion: v2\nname: corpus\nversion: 010\nappVersion: 0x1F\n"
                                   "description: 1_000\nhome: +12\nicon: 0b10\nkubeVersion: 1e6\n"
                                   "keywords: [0o17, 08, 1234567.0, .5, -0]\n"}, None),
    ("YAML 1.1 booleans", {"Chart.yaml": V2 + "deprecated: yes\ndescription: on\nannotations: {n: Off, y: 1}\n"}, None),
    ("quoted scalars stay text", {"Chart.yaml": V2 + "description: 'yes'\nappVersion: \"010\"\nhome: '1e6'\n"}, None),
    # Helm reads the chart's own Chart.yaml for its apiVersion alone first, where no field is
    # text; its subcharts' only as Metadata.
    ("an infinite appVersion", {"Chart.yaml": V2 + "appVersion: .inf\n"}, "json: unsupported value: +Inf"),
    ("infinities for text in a subchart", {"Chart.yaml": V2, "charts/s/Chart.yaml": sub("s") + "appVersion: .inf\n"
                                           "annotations: {a: -.inf, b: .NaN}\n"}, None),
    ("keys in another case", {"Chart.yaml": "APIVERSION: v2\nName: corpus\nversion: 0.1.0\nappversion: '2'\n"}, None),
    ("merge keys", {"Chart.yaml": V2 + "dependencies:\n- &dep {name: a, version: 1.0.0, repository: 'oci://x'}\n"
                                       "- {<<: *dep, name: b}\nx: &meta {description: merged, home: h}\n"
                                       "<<: *meta\nhome: explicit\n",
                    "values.yaml": "base: &b {a: 1}\nmore: {<<: *b, c: 2}\n",
                    "charts/a/Chart.yaml": sub("a"), "charts/b/Chart.yaml": sub("b")}, None),
    ("merge keys, a list of them, before a key", {"Chart.yaml": V2 + "x: &p {description: p, home: p}\n"
                                                  "z: &q {description: q, icon: q}\nhome: own\n<<: [*q, *p]\n"}, None),
    ("NaN in Chart.yaml", {"Chart.yaml": V2 + "extra: {ratio: .nan}\n"}, "json: unsupported value: NaN"),
    ("an infinite number", {"Chart.yaml": V2 + "sources: [a]\nweight: -.inf\n"}, "json: unsupported value: -Inf"),
    ("NaN in values.yaml", {"Chart.yaml": V2, "values.yaml": "a: .nan\n"}, "json: unsupported value: NaN"),
    ("deprecated as a string", {"Chart.yaml": V2 + "deprecated: \"true\"\n"}, "expected a boolean"),
    ("deprecated as a number", {"Chart.yaml": V2 + "deprecated: 1\n"}, "expected a boolean"),
    ("enabled as a string", {"Chart.yaml": V2 + "dependencies:\n- {name: a, repository: r, enabled: 'true'}\n",
                             "charts/a/Chart.yaml": sub("a")}, "expected a boolean"),
    ("enabled as a YAML 1.1 boolean", {"Chart.yaml": V2 + "dependencies:\n- {name: a, repository: r, enabled: on}\n",
                                       "charts/a/Chart.yaml": sub("a")}, None),
    ("merge of a scalar", {"Chart.yaml": V2 + "x: {<<: 1}\n"}, "map merge requires map or sequence of maps"),
    ("a null key", {"Chart.yaml": V2 + "~: 1\n"}, "unsupported map key"),
    # Half-migrated charts: Helm lays requirements.yaml (item by item) over Chart.yaml.
    ("v2 with requirements.yaml and requirements.lock", {
        "Chart.yaml": V2, "requirements.yaml": "dependencies:\n- name: redis\n  version: 1.x\n"
                                               "  repository: https://charts.example.com\n",
        "requirements.lock": "dependencies:\n- name: redis\n  repository: https://charts.example.com\n"
                             "  version: 1.2.3\ndigest: sha256:abc\ngenerated: \"2024-01-01T00:00:00Z\"\n",
        "charts/redis/Chart.yaml": sub("redis")}, None),
    ("v2 with dependencies in both", {
        "Chart.yaml": V2 + "description: mine\ndependencies:\n- {name: redis, repository: r, condition: redis.on}\n"
                           "- {name: db, repository: r}\n",
        "requirements.yaml": "description: theirs\ndependencies:\n- {name: redis, version: 1.x}\n",
        "Chart.lock": "dependencies: []\ndigest: sha256:one\n", "requirements.lock": "dependencies: []\ndigest: two\n",
        "charts/redis/Chart.yaml": sub("redis")}, None),
    ("v1 with dependencies in Chart.yaml", {
        "Chart.yaml": "apiVersion: v1\nname: corpus\nversion: 0.1.0\ndescription: a <v1> chart\n"
                      "dependencies:\n- {name: redis, version: 1.x, repository: r}\n",
        "charts/redis/Chart.yaml": sub("redis")}, None),
    ("v1 with dependencies in Chart.yaml and requirements.yaml", {
        "Chart.yaml": "apiVersion: v1\nname: corpus\nversion: 0.1.0\n"
                      "dependencies:\n- {name: redis, repository: r, condition: c}\n- {name: db, repository: r}\n",
        "requirements.yaml": "dependencies:\n- {name: redis, version: 1.x}\n",
        "charts/redis/Chart.yaml": sub("redis"), "charts/db/Chart.yaml": sub("db")}, None),
    ("v1 with a dependency of Chart.yaml missing from charts/", {
        "Chart.yaml": "apiVersion: v1\nname: corpus\nversion: 0.1.0\ndependencies:\n- {name: redis, repository: r}\n"},
     "found in Chart.yaml, but missing in charts/ directory: redis"),
    ("dependency missing from charts/", {"Chart.yaml": DEPENDS_ON_REDIS},
     "found in Chart.yaml, but missing in charts/ directory: redis"),
    ("invalid values.yaml", {"Chart.yaml": V2, "values.yaml": "a: [\n"}, "cannot load values.yaml"),
    ("values.yaml that is a list", {"Chart.yaml": V2, "values.yaml": "- a\n- b\n"}, "cannot load values.yaml"),
    # Helm 4 cuts values.yaml into documents by lines: only a comment may follow `---`, and
    # a directive is a document of its own.
    ("a values.yaml separator line with content", {"Chart.yaml": V2, "values.yaml": "a: 1\n--- {b: 2}\n"},
     "invalid Yaml document separator: {b: 2}"),
    ("a %YAML directive in values.yaml", {"Chart.yaml": V2, "values.yaml": "%YAML 1.1\n---\na: 1\n"},
     "did not find expected <document start>"),
    # A value of the wrong type is named by its field, as Helm names it.
    ("a mapping for an annotation", {"Chart.yaml": V2 + "annotations:\n  a:\n    b: 1\n"},
     "cannot load Chart.yaml: .annotations.a: invalid type: map, expected a string"),
    ("a list for a maintainer's name", {"Chart.yaml": V2 + "maintainers:\n- name: [1]\n"},
     "cannot load Chart.yaml: .maintainers[0].name: invalid type: sequence, expected a string"),
    ("a string for a dependency's tags", {"Chart.yaml": V2 + "dependencies:\n- name: x\n  tags: abc\n"},
     "cannot load Chart.yaml: .dependencies[0].tags: invalid type: string \"abc\", expected a sequence"),
    (".helmignore with a line of 64 KiB", {"Chart.yaml": V2, ".helmignore": "#" + "x" * 65535 + "\n"},
     "bufio.Scanner: token too long"),
    # Keys that differ in case fill the same Go field: each is decoded onto it in turn.
    ("Chart.yaml fields repeated in another case", {"Chart.yaml": V2
        + "Maintainers:\n- name: a\n  email: a@example.com\n- name: z\nmaintainers:\n- name: b\n"
        + "Annotations:\n  one: '1'\nannotations:\n  two: '2'\nKeywords: [x, y]\nkeywords: [k]\n"
        + "Dependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n"
        + "  condition: redis.on\ndependencies:\n- name: redis\n  alias: cache\n",
        "charts/redis-1.2.3.tgz": sub_tgz("redis", {})}, None),
    ("a %YAML 1.1 directive in Chart.yaml", {"Chart.yaml": "%YAML 1.1\n---\n" + V2}, None),
    ("a %YAML 1.2 directive in Chart.yaml", {"Chart.yaml": "%YAML 1.2\n---\n" + V2},
     "found incompatible YAML document"),
    ("a values.yaml document end, then what go-yaml does not read",
     {"Chart.yaml": V2, "values.yaml": "a: 1\n...\n]]]: [\n--- # next\nb: 2\n"}, None),
    ("invalid subchart", {"Chart.yaml": V2, "charts/broken/Chart.yaml": "apiVersion: v2\nname: broken\n"},
     "error unpacking subchart broken"),
    ("stray file in charts/", {"Chart.yaml": V2, "charts/README.md": "hi"}, "error unpacking subchart README.md"),
    ("four-part version", {"Chart.yaml": "apiVersion: v2\nname: corpus\nversion: 1.2.3.4\n"}, "is invalid"),
    ("invalid type", {"Chart.yaml": V2 + "type: plugin\n"}, "application or library"),
    ("invalid values.schema.json", {"Chart.yaml": V2, "values.schema.json": "{"}, "invalid JSON"),
    ("a subchart of another apiVersion", {"Chart.yaml": V2, "charts/a/Chart.yaml": "apiVersion: v3\nname: a\nversion: 1.0.0\n",
                                            "charts/b/Chart.yaml": "apiVersion: x\nname: b\nversion: 1.0.0\n"}, None),
    ("a chart of apiVersion v3", {"Chart.yaml": "apiVersion: v3\nname: corpus\nversion: 0.1.0\n"},
     "unsupported chart version"),
    ("a Latin-1 values.schema.json", {"Chart.yaml": V2, "values.schema.json": b'{"title": "caf\xe9", "maximum": 1e400}'},
     None),
    (".helmignore negation that drops Chart.yaml", {"Chart.yaml": V2, ".helmignore": "*.md\n!KEEP.md\n",
                                                     "KEEP.md": "k"}, "Chart.yaml file is missing"),
    (".helmignore with **", {"Chart.yaml": V2, ".helmignore": "sub/**/x.txt\n"},
     ".helmignore: double-star (**) syntax is not supported"),
    (".helmignore with a bad pattern", {"Chart.yaml": V2, ".helmignore": "[abc\n"},
     '.helmignore: syntax error in pattern "[abc"'),
    ("directories nested 40 deep", {"Chart.yaml": V2, "files/" + "/".join(f"d{i}" for i in range(40)) + "/x.txt": "x"},
     None),
    ("over 100 MiB", {"Chart.yaml": V2, **{f"files/{i}.bin": bytes(4 << 20) for i in range(26)}}, "maximum size"),
]


def write(root, files):
    chart = root / "corpus"
    for path, data in files.items():
        p = chart / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return chart


def helm_package(chart, dest):
    """Packages with Helm 4.3's library; returns the archive's path, or None if Helm refused
    the chart: it would not package it, or could not load what it packaged (Helm 4.3
    packages a file over its 5 MiB limit, then refuses the archive)."""
    p = subprocess.run([sys.executable, str(HELM4), "package", chart, dest], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    archive = p.stdout.strip()
    loads = subprocess.run([sys.executable, str(HELM4), "show", archive], capture_output=True).returncode == 0
    return archive if loads else None


def names(archive: bytes):
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        return sorted(m.name for m in t.getmembers() if not m.isdir())


def lock(archive: bytes):
    """The lock Helm reads from a packaged chart (the last of the two files it reads), less
    its time, which Helm writes in its own form."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        locks = [yaml.safe_load(t.extractfile(m)) for m in t.getmembers()
                 if m.name in ("corpus/Chart.lock", "corpus/requirements.lock")]
    return locks and {k: v for k, v in locks[-1].items() if k != "generated"}


def pushed(registry, repo, tag):
    """The config (parsed) and the chart layer's bytes of a pushed chart."""
    manifest = json.loads(registry.manifest(repo, tag))
    config = json.loads(registry.blob(repo, manifest["config"]["digest"]))
    return config, registry.blob(repo, manifest["layers"][0]["digest"])


@pytest.mark.parametrize("files,refusal", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_helm_oci_and_helm_agree(helm_oci, registry, tmp_path, files, refusal):
    chart = write(tmp_path / "src", files)
    packaged = helm_package(chart, tmp_path / "helm")
    if refusal:
        assert packaged is None, "Helm packages this chart"
        line = helm_oci.fails("push", chart, f"oci://{registry.host}/ours", "--plain-http")
        assert refusal in line
        return
    assert packaged, "Helm refuses this chart"
    p = helm_oci.run("push", chart, f"oci://{registry.host}/ours", "--plain-http")
    tag = p.stdout.split("\n")[0].rsplit(":", 1)[1]
    subprocess.run([sys.executable, str(HELM4), "push", packaged, f"oci://{registry.host}/helm"], check=True,
                   capture_output=True)
    helm_config, helm_archive = pushed(registry, "helm/corpus", tag)
    our_config, our_archive = pushed(registry, "ours/corpus", tag)
    assert our_config == helm_config
    # Chart.yaml goes as it is, and so with it a v2 chart's requirements.yaml where that
    # changes what Helm reads (Helm writes what it read into Chart.yaml instead).
    ours = names(our_archive)
    if "corpus/requirements.yaml" not in names(helm_archive):
        ours = [n for n in ours if n != "corpus/requirements.yaml"]
    assert ours == names(helm_archive)
    assert lock(our_archive) == lock(helm_archive)
    # What Helm pushed, helm-oci pulls.
    helm_oci.run("pull", f"oci://{registry.host}/helm/corpus:{tag}", "-d", tmp_path / "pulled", "--plain-http")
    # And what helm-oci pushed, Helm loads as it loads its own (Helm cannot name its own `_`
    # tags in a reference).
    if "_" not in tag:
        shown = [subprocess.run([sys.executable, str(HELM4), "show", f"oci://{registry.host}/{repo}/corpus:{tag}"],
                                check=True, capture_output=True, text=True).stdout for repo in ("ours", "helm")]
        chart_yaml = [[line for line in s.splitlines() if not line.startswith(("Pulled:", "Digest:"))] for s in shown]
        assert chart_yaml[0] == chart_yaml[1]


def test_a_file_over_5_mib_needs_a_higher_max_file_size(helm_oci, registry, tmp_path):
    """Helm caps a file at 5 MiB since after 4.3 (4.3 itself has only the 100 MiB total);
    helm-oci holds to the newer rule, which --max-file-size lifts."""
    chart = write(tmp_path / "src", {"Chart.yaml": V2, "files/big.bin": bytes((5 << 20) + 1)})
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    assert line.endswith('chart file "big.bin" is larger than the maximum file size 5242880 (--max-file-size raises it)')
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http", "--max-file-size", "6Mi")


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 20 and sum(r is not None for _, _, r in CORPUS) >= 8


def test_source_date_epoch_stamps_entries_and_created(helm_oci, registry, chart):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    helm_oci.run("push", chart, f"oci://{registry.host}/a", "--plain-http", env=env)
    (chart / "values.yaml").touch()
    helm_oci.run("push", chart, f"oci://{registry.host}/b", "--plain-http", env=env)
    a, b = (json.loads(registry.manifest(f"{r}/mychart", "0.1.0")) for r in "ab")
    assert a == b, "the same chart and epoch give the same manifest, whatever the files' times"
    assert a["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    with tarfile.open(fileobj=io.BytesIO(registry.blob("a/mychart", a["layers"][0]["digest"]))) as t:
        assert {m.mtime for m in t.getmembers()} == {1700000000}


def test_a_time_in_the_future_is_never_stamped(helm_oci, registry, chart):
    import os
    import time
    future = time.time() + 10 * 365 * 86400
    for f in chart.rglob("*"):
        os.utime(f, (future, future))
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
    created = manifest["annotations"]["org.opencontainers.image.created"]
    assert created <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))


def test_a_v_prefixed_chart_is_pulled_as_helm_pulls_it(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src", version="v1.4.0")
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    assert registry.manifest("charts/mychart", "v1.4.0")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "--version", "v1.4.0", "-d", out, "--plain-http")
    assert (out / "mychart-v1.4.0.tgz").exists()
