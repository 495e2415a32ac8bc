"""The chart cache under trouble: charts in Helm's older registry layouts, blobs corrupted
on disk, several processes writing one cache at once, bad input, a full or read-only disk,
and lock files left behind. Whatever happens, the cache stays a valid OCI image layout and
what it already held is not damaged."""
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import BIN, files_left, helm4, pulled_by_digest, sha256, tgz, write_chart
from fronts import Front

PLAIN = "--plain-http"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


@pytest.fixture
def cache(helm_oci, tmp_path):
    """A chart cache of this test's own: every run of `helm_oci` (and every process started
    with its env) uses it."""
    home = tmp_path / "cache"
    helm_oci.env["HELM_CACHE_HOME"] = str(home)
    return home


def oci(cache_home: Path) -> Path:
    return cache_home / "oci"


def listed(helm_oci):
    return json.loads(helm_oci.run("list", "-o", "json").stdout)


def saved_digest(out: str) -> str:
    """The manifest digest `save` prints (bare hex, as Helm 3's `chart save` did)."""
    fields = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
    return "sha256:" + fields["digest"].strip()


def pulled_digest(out: str) -> str:
    return dict(l.split(": ", 1) for l in out.splitlines())["Digest"]


def snapshot(root: Path) -> dict:
    """Every file under `root`, by relative path, with the sha256 of its content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def tree(root: Path) -> dict:
    """Every file under `root` with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def verify_layout(cache_home: Path) -> dict:
    """Checks that the cache is a valid, complete OCI image layout: oci-layout and index.json
    parse as the spec says, every blob's content matches its name, every entry's manifest and
    every blob a manifest references is there with the size stated, no ref is listed twice,
    and no lock or temp file is left. Returns {ref: manifest digest}."""
    root = oci(cache_home)
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((root / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["mediaType"] == INDEX, index
    blob_dir = root / "blobs" / "sha256"
    for blob in blob_dir.iterdir():
        assert blob.is_file(), blob
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"blob {blob.name} is corrupt"

    def present(descriptor, what):
        algorithm, hex_ = descriptor["digest"].split(":", 1)
        assert algorithm == "sha256", descriptor
        path = blob_dir / hex_
        assert path.is_file(), f"{what} {descriptor['digest']} is not in the cache"
        assert path.stat().st_size == descriptor["size"], f"{what} {descriptor['digest']} has the wrong size"
        return path.read_bytes()

    refs = {}
    for entry in index["manifests"]:
        ref = entry["annotations"][REF_NAME]
        assert ref not in refs, f"{ref} is listed twice"
        assert entry["mediaType"] == MANIFEST, entry
        manifest = json.loads(present(entry, f"{ref}: manifest"))
        assert manifest["schemaVersion"] == 2
        present(manifest["config"], f"{ref}: config")
        for layer in manifest["layers"]:
            present(layer, f"{ref}: layer")
        refs[ref] = entry["digest"]
    leftovers = [p.name for p in root.rglob("*") if p.name.endswith(".lock") or p.name.startswith(".helm-oci-")]
    assert leftovers == [], leftovers
    return refs


def put_manifest(registry, repo, tag, manifest: dict) -> bytes:
    data = json.dumps(manifest).encode()
    put = urllib.request.Request(registry.url(f"/v2/{repo}/manifests/{tag}"), method="PUT", data=data,
                                 headers={"Content-Type": MANIFEST})
    urllib.request.urlopen(put).close()
    return data


def tar_names(archive: bytes):
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        return sorted(t.getnames())


# --- 1. Charts in Helm's older registry layouts -----------------------------------------------

OLD_FILES = {"old/Chart.yaml": b"apiVersion: v2\nname: old\nversion: 0.3.0\ndescription: from Helm 3.5\n",
             "old/values.yaml": b"replicas: 3\n",
             "old/templates/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n"}


def test_a_helm_3_0_to_3_6_chart_is_pulled_exported_and_listed(helm_oci, registry, cache, tmp_path):
    config = json.dumps({"apiVersion": "v2", "name": "old", "version": "0.3.0",
                         "description": "from Helm 3.5"}).encode()
    archive = tgz(OLD_FILES)
    manifest = registry.put_chart("legacy/old", "0.3.0", config, archive, layer_type="application/tar+gzip")
    ref = f"{registry.host}/legacy/old:0.3.0"

    out = tmp_path / "out"
    p = helm_oci.run("pull", f"oci://{ref}", "-d", out, PLAIN)
    assert p.stdout == f"Pulled: {ref}\nDigest: {sha256(manifest)}\n"
    warnings = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: "), p.stderr
    assert ref in warnings[0] and '"application/tar+gzip"' in warnings[0] and "deprecated" in warnings[0]
    assert files_left(out) == ["old-0.3.0.tgz"]
    assert (out / "old-0.3.0.tgz").read_bytes() == archive, "the archive is written as it was published"
    shown = yaml.safe_load(helm4("show", out / "old-0.3.0.tgz"))
    assert (shown["name"], shown["version"], shown["description"]) == ("old", "0.3.0", "from Helm 3.5")

    exported = tmp_path / "exported"
    p = helm_oci.run("export", ref, "-d", exported)
    assert p.stdout.splitlines()[-1] == f"Exported chart to {exported / 'old'}/"
    assert tree(exported / "old") == {k.split("/", 1)[1]: v for k, v in OLD_FILES.items()}

    [row] = listed(helm_oci)
    assert (row["ref"], row["name"], row["version"], row["digest"]) == (ref, "old", "0.3.0", sha256(manifest))
    assert row["size"] == len(archive)
    assert verify_layout(cache) == {ref: sha256(manifest)}


ALPHA_META = {"apiVersion": "v1", "description": "legacy", "appVersion": "2.0"}
ALPHA_FILES = {"-/Chart.yaml": b'apiVersion: v1\nname: "-"\nversion: 0.1.0\n',
               "-/values.yaml": b"image: nginx\n",
               "-/templates/deploy.yaml": b"apiVersion: apps/v1\nkind: Deployment\n",
               "-/templates/svc.yaml": b"apiVersion: v1\nkind: Service\n"}


def push_alpha(registry, repo="alpha/legacy", tag="1.2.3"):
    """A chart as Helm 3.0.0-alpha pushed it: an empty image config, Chart.yaml as JSON
    (without name and version) in a meta layer, and the chart under `-/` in a content layer
    whose annotations carry name and version. Returns the manifest's bytes."""
    manifest = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **registry.put_blob(repo, b"{}")},
        "layers": [
            {"mediaType": "application/vnd.cncf.helm.chart.meta.v1+json",
             **registry.put_blob(repo, json.dumps(ALPHA_META).encode())},
            {"mediaType": "application/vnd.cncf.helm.chart.content.v1+tar",
             **registry.put_blob(repo, tgz(ALPHA_FILES)),
             "annotations": {"sh.helm.chart.name": "legacy", "sh.helm.chart.version": "1.2.3"}},
        ],
    }
    return put_manifest(registry, repo, tag, manifest)


def test_an_early_two_layer_chart_is_rebuilt_as_the_chart_it_names(helm_oci, registry, cache, tmp_path):
    manifest = push_alpha(registry)
    ref = f"{registry.host}/alpha/legacy:1.2.3"

    out = tmp_path / "out"
    p = helm_oci.run("pull", f"oci://{ref}", "-d", out, PLAIN)
    assert p.stdout == f"Pulled: {ref}\nDigest: {sha256(manifest)}\n"
    assert files_left(out) == ["legacy-1.2.3.tgz"]
    archive = (out / "legacy-1.2.3.tgz").read_bytes()
    assert tar_names(archive) == ["legacy/Chart.yaml", "legacy/templates/deploy.yaml", "legacy/templates/svc.yaml",
                                  "legacy/values.yaml"]
    shown = yaml.safe_load(helm4("show", out / "legacy-1.2.3.tgz"))
    assert (shown["name"], shown["version"], shown["description"]) == ("legacy", "1.2.3", "legacy")
    assert (shown["apiVersion"], shown["appVersion"]) == ("v1", "2.0")

    exported = tmp_path / "exported"
    helm_oci.run("export", ref, "-d", exported)
    files = tree(exported / "legacy")
    assert sorted(files) == ["Chart.yaml", "templates/deploy.yaml", "templates/svc.yaml", "values.yaml"]
    meta = yaml.safe_load(files.pop("Chart.yaml"))
    assert meta == {**ALPHA_META, "name": "legacy", "version": "1.2.3"}
    assert files == {k[2:]: v for k, v in ALPHA_FILES.items() if not k.endswith("Chart.yaml")}
    assert yaml.safe_load(helm4("show", exported / "legacy"))["name"] == "legacy"

    [row] = listed(helm_oci)
    assert (row["ref"], row["name"], row["version"], row["digest"]) == (ref, "legacy", "1.2.3", sha256(manifest))

    # Offline, from the cache alone, the same archive comes back.
    again = tmp_path / "again"
    helm_oci.run("pull", f"oci://{ref}", "-d", again, "--offline")
    assert (again / "legacy-1.2.3.tgz").read_bytes() == archive


def test_an_early_two_layer_chart_is_cached_whole(helm_oci, registry, cache, tmp_path):
    """Every blob its manifest references is kept, the (empty) config included: the cache
    stays a complete OCI layout, and the chart can be pushed from it as it is."""
    manifest = push_alpha(registry)
    ref = f"{registry.host}/alpha/legacy:1.2.3"
    helm_oci.run("pull", f"oci://{ref}", "-d", tmp_path / "out", PLAIN)
    assert verify_layout(cache) == {ref: sha256(manifest)}
    p = helm_oci.run("push", ref, PLAIN)
    assert p.stdout == f"Pushed: {ref}\nDigest: {sha256(manifest)}\n"


# --- 2. A corrupt blob on disk ---------------------------------------------------------------

@pytest.fixture
def pulled(helm_oci, registry, cache, tmp_path):
    """mychart 0.1.0 pushed and pulled once: its manifest in the cache and the archive."""
    chart = write_chart(tmp_path / "src")
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    ref = f"oci://{registry.host}/charts/mychart:0.1.0"
    first = tmp_path / "first"
    digest = pulled_digest(helm_oci.run("pull", ref, "-d", first, PLAIN).stdout)
    manifest = json.loads((oci(cache) / "blobs" / "sha256" / digest[7:]).read_bytes())
    return ref, digest, manifest, (first / "mychart-0.1.0.tgz").read_bytes()


def corrupted(good, same_size):
    """Content that is not `good`: as long (every bit flipped), or of another size."""
    return bytes(b ^ 0xFF for b in good) if same_size else b"not what it was\n"


def blob_to_corrupt(cache, which, digest, manifest):
    """The digest of the pulled chart's `which` blob, and its file in the cache."""
    bad = {"manifest": digest, "config": manifest["config"]["digest"], "chart": manifest["layers"][0]["digest"]}[which]
    return bad, oci(cache) / "blobs" / "sha256" / bad[7:]


@pytest.mark.parametrize("which", ["chart", "config", "manifest"])
@pytest.mark.parametrize("same_size", [True, False], ids=["same size", "other size"])
def test_a_corrupt_blob_is_fetched_again(helm_oci, cache, pulled, tmp_path, which, same_size):
    ref, digest, manifest, archive = pulled
    bad, path = blob_to_corrupt(cache, which, digest, manifest)
    good = path.read_bytes()
    path.write_bytes(corrupted(good, same_size))

    out = tmp_path / "out"
    p = helm_oci.run("pull", ref, "-d", out, PLAIN)
    assert pulled_digest(p.stdout) == digest
    warnings = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: ") and bad in warnings[0], p.stderr
    assert (out / "mychart-0.1.0.tgz").read_bytes() == archive
    assert path.read_bytes() == good and hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert set(verify_layout(cache).values()) == {digest}


@pytest.mark.parametrize("which", ["chart", "config", "manifest"])
@pytest.mark.parametrize("same_size", [True, False], ids=["same size", "other size"])
def test_a_corrupt_blob_offline_is_an_error(helm_oci, cache, pulled, tmp_path, which, same_size):
    ref, digest, manifest, _ = pulled
    bad, path = blob_to_corrupt(cache, which, digest, manifest)
    good = path.read_bytes()

    out = tmp_path / "out"
    out.mkdir()
    for untar in ([], ["--untar"]):
        path.write_bytes(corrupted(good, same_size))
        line = helm_oci.fails("pull", ref, "-d", out, "--offline", *untar)
        assert bad in line, line
        assert files_left(out) == []
    # Nothing corrupt is left to be read as good: the blob is gone or still as it was made.
    assert not path.exists() or path.read_bytes() != good
    for blob in (oci(cache) / "blobs" / "sha256").iterdir():
        assert blob == path or hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


# --- 3 and 4. Many writers, and the layout they leave ----------------------------------------

def test_concurrent_pulls_and_saves_leave_a_valid_cache(helm_oci, registry, cache, tmp_path):
    rounds = 6
    publisher = {"HELM_CACHE_HOME": str(tmp_path / "publisher-cache")}
    for r in range(rounds):
        src = write_chart(tmp_path / f"pub{r}", name="pulled", version=f"0.{r}.0",
                          extra={"files/data.txt": f"round {r}\n" * 200})
        helm_oci.run("push", src, f"oci://{registry.host}/charts", PLAIN, env=publisher)
    common = write_chart(tmp_path / "common", name="common", extra={"files/big.txt": "shared\n" * 5000})
    local = "localhost:5000"

    expected = set()
    for r in range(rounds):
        unique = write_chart(tmp_path / f"uniq{r}", name=f"uniq{r}", extra={"files/x.txt": f"{r}\n" * 1000})
        ref = f"oci://{registry.host}/charts/pulled:0.{r}.0"
        commands = [
            ["pull", ref, "-d", tmp_path / f"out{r}a", PLAIN],
            ["pull", ref, "-d", tmp_path / f"out{r}b", PLAIN],
            ["save", unique, f"{local}/ns"],
            ["chart", "save", common, f"{local}/round{r}/common"],
        ]
        procs = [subprocess.Popen([str(BIN), *map(str, c)], env=helm_oci.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for c in commands]
        for c, p in zip(commands, procs):
            stdout, stderr = p.communicate(timeout=60)
            assert p.returncode == 0 and stderr == "", f"{c}: {p.returncode}\n{stderr}"
        a = (tmp_path / f"out{r}a" / f"pulled-0.{r}.0.tgz").read_bytes()
        assert (tmp_path / f"out{r}b" / f"pulled-0.{r}.0.tgz").read_bytes() == a
        assert "pulled/files/data.txt" in tar_names(a)
        expected |= {f"{registry.host}/charts/pulled:0.{r}.0", f"{local}/ns/uniq{r}:0.1.0",
                     f"{local}/round{r}/common:0.1.0"}

    refs = verify_layout(cache)
    assert set(refs) == expected
    assert {row["ref"] for row in listed(helm_oci)} == expected
    # The identical chart saved under every round's ref is one manifest.
    assert len({refs[f"{local}/round{r}/common:0.1.0"] for r in range(rounds)}) == 1
    for r in range(rounds):
        helm_oci.run("export", f"{local}/ns/uniq{r}:0.1.0", "-d", tmp_path / "exported")
        assert (tmp_path / "exported" / f"uniq{r}" / "files" / "x.txt").read_text() == f"{r}\n" * 1000


def test_the_cache_is_an_oci_image_layout(helm_oci, registry, cache, chart, tmp_path):
    saved = helm_oci.run("save", chart, "localhost:5000/ns").stdout
    other = write_chart(tmp_path / "other", name="other", version="2.0.0")
    helm_oci.run("push", other, f"oci://{registry.host}/charts", PLAIN,
                 env={"HELM_CACHE_HOME": str(tmp_path / "publisher-cache")})
    pulled = helm_oci.run("pull", f"oci://{registry.host}/charts/other:2.0.0", "-d", tmp_path / "out", PLAIN).stdout

    root = oci(cache)
    assert (root / "oci-layout").read_bytes().strip() in (b'{"imageLayoutVersion":"1.0.0"}',
                                                          b'{"imageLayoutVersion": "1.0.0"}')
    index = json.loads((root / "index.json").read_text())
    assert (index["schemaVersion"], index["mediaType"]) == (2, INDEX)
    refs = verify_layout(cache)
    assert refs == {"localhost:5000/ns/mychart:0.1.0": saved_digest(saved),
                    f"{registry.host}/charts/other:2.0.0": pulled_digest(pulled)}

    rows = {row["ref"]: row for row in listed(helm_oci)}
    for entry in index["manifests"]:
        notes = entry["annotations"]
        manifest = json.loads((root / "blobs" / "sha256" / entry["digest"][7:]).read_bytes())
        [layer] = manifest["layers"]
        row = rows[notes[REF_NAME]]
        assert (notes["org.opencontainers.image.title"], notes["org.opencontainers.image.version"]) == (
            row["name"], row["version"])
        assert notes["io.helm-oci.chart.size"] == str(layer["size"]) == str(row["size"])
        assert notes["org.opencontainers.image.created"] == row["created"]
        assert row["digest"] == entry["digest"]
    assert {(r["name"], r["version"]) for r in rows.values()} == {("mychart", "0.1.0"), ("other", "2.0.0")}


# --- 5. Bad input leaves the cache as it was -------------------------------------------------

@pytest.fixture
def stocked(helm_oci, cache, chart):
    """A cache holding mychart 0.1.0 (saved) and its snapshot."""
    helm_oci.run("save", chart, "localhost:5000/ns")
    return "localhost:5000/ns/mychart:0.1.0", snapshot(oci(cache))


@pytest.mark.parametrize("spelling", [["pull"], ["chart", "pull"]], ids=["pull", "chart pull"])
def test_an_uncached_ref_offline_is_an_error(helm_oci, cache, stocked, tmp_path, spelling):
    _, before = stocked
    out = tmp_path / "out"
    out.mkdir()
    line = helm_oci.fails(*spelling, "oci://localhost:5000/ns/mychart:9.9.9", "--offline", "-d", out)
    assert line == "Error: localhost:5000/ns/mychart:9.9.9: it is not in the chart cache (--offline)"
    line = helm_oci.fails(*spelling, "oci://localhost:5000/ns/other:0.1.0", "--offline", "-d", out)
    assert line == "Error: localhost:5000/ns/other:0.1.0: it is not in the chart cache (--offline)"
    assert files_left(out) == []
    assert snapshot(oci(cache)) == before


def test_export_into_a_non_empty_directory_needs_force(helm_oci, cache, stocked, chart, tmp_path):
    ref, before = stocked
    out = tmp_path / "out"
    (out / "mychart" / "templates").mkdir(parents=True)
    (out / "mychart" / "stray.txt").write_text("mine")
    (out / "mychart" / "templates" / "old.yaml").write_text("kind: Old\n")
    (out / "mychart" / "values.yaml").write_text("edited: true\n")
    mine = tree(out)

    line = helm_oci.fails("export", ref, "-d", out)
    assert line == f"Error: {out / 'mychart'}: it is not an empty directory (--force replaces it)"
    assert tree(out) == mine
    assert snapshot(oci(cache)) == before

    helm_oci.run("export", ref, "-d", out, "--force")
    assert tree(out / "mychart") == tree(chart), "replaced whole: nothing stray is left"
    assert files_left(out) == ["mychart"]
    assert snapshot(oci(cache)) == before


def test_parallel_exports_into_one_directory_each_place_or_refuse_the_chart(helm_oci, cache, tmp_path):
    # Enough files that the runs unpack side by side, and so race to move their copy in place.
    chart = write_chart(tmp_path / "src", extra={f"templates/t{i}.yaml": f"kind: T{i}\n" for i in range(40)})
    helm_oci.run("save", chart, "localhost:5000/ns")
    ref, before = "localhost:5000/ns/mychart:0.1.0", snapshot(oci(cache))

    def at_once(*flags):
        out = tmp_path / ("out" + "".join(flags))
        runs = [subprocess.Popen([str(BIN), "export", ref, "-d", out, *flags], cwd=helm_oci.home, env=helm_oci.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(10)]
        return out, [(run.wait(timeout=120), run.stderr.read()) for run in runs]

    out, ends = at_once("--force")
    assert ends == [(0, "")] * 10, "with --force, whoever comes last replaces what the others placed"
    assert tree(out / "mychart") == tree(chart)
    assert files_left(out) == ["mychart"]

    out, ends = at_once()
    refused = f"Error: {out / 'mychart'}: it is not an empty directory (--force replaces it)\n"
    assert sorted(ends)[0] == (0, "") and sorted(ends)[1:] == [(1, refused)] * 9, ends
    assert tree(out / "mychart") == tree(chart)
    assert files_left(out) == ["mychart"]
    assert snapshot(oci(cache)) == before


def test_saving_an_invalid_chart_changes_nothing(helm_oci, cache, stocked, tmp_path):
    _, before = stocked
    bad = write_chart(tmp_path / "bad", name="bad")
    (bad / "Chart.yaml").write_text("apiVersion: v2\nname: bad\n")
    for ref in ("localhost:5000/ns", "localhost:5000/ns/bad:1.0.0"):
        line = helm_oci.fails("save", bad, ref)
        assert line == f"Error: {bad}: chart.metadata.version is required"
    assert snapshot(oci(cache)) == before
    assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/ns/mychart:0.1.0"]


def mount(target: Path, *options):
    """Mounts a small tmpfs at `target`, or skips the test where mounting is not allowed
    (as tests/test_local_trouble.py does)."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(target)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return target


@pytest.fixture
def small_cache(helm_oci, tmp_path):
    """A chart cache on a 256 KiB tmpfs."""
    disk = mount(tmp_path / "disk", "size=256k")
    helm_oci.env["HELM_CACHE_HOME"] = str(disk)
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def assert_kept(cache_home: Path, before: dict):
    """What was cached is all there, unchanged; anything new is a whole, valid blob (which
    `prune` collects), never a temp file, lock or half-written blob."""
    after = snapshot(oci(cache_home))
    assert {k: after.get(k) for k in before} == before
    for name in set(after) - set(before):
        assert name.startswith("blobs/sha256/") and after[name] == name.rsplit("/", 1)[1], name
    verify_layout(cache_home)


def test_a_full_disk_while_saving_or_pulling_damages_nothing(helm_oci, registry, chart, small_cache, tmp_path):
    helm_oci.run("save", chart, "localhost:5000/ns")
    before = snapshot(oci(small_cache))
    big = write_chart(tmp_path / "big", name="big", extra={"files/noise.bin": os.urandom(1 << 20)})

    line = helm_oci.fails("save", big, "localhost:5000/ns")
    assert "no space left on device" in line, line
    assert_kept(small_cache, before)

    helm_oci.run("push", big, f"oci://{registry.host}/charts", PLAIN,
                 env={"HELM_CACHE_HOME": str(tmp_path / "publisher-cache")})
    out = tmp_path / "out"
    out.mkdir()
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/big:0.1.0", "-d", out, PLAIN)
    assert "no space left on device" in line, line
    assert files_left(out) == []
    assert_kept(small_cache, before)

    assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/ns/mychart:0.1.0"]
    helm_oci.run("pull", "oci://localhost:5000/ns/mychart:0.1.0", "--offline", "-d", out)
    assert files_left(out) == ["mychart-0.1.0.tgz"]


def test_a_read_only_cache_says_so_and_is_still_read(helm_oci, registry, chart, tmp_path):
    cache_home = tmp_path / "ro-cache"
    helm_oci.env["HELM_CACHE_HOME"] = str(cache_home)
    as_root = os.geteuid() == 0
    if as_root:  # chmod stops no write of root's: a read-only file system does
        mount(cache_home, "size=4m")
    try:
        helm_oci.run("save", chart, "localhost:5000/ns")
        before = snapshot(oci(cache_home))
        if as_root:
            done = subprocess.run(["mount", "-o", "remount,ro", str(cache_home)], capture_output=True)
            assert done.returncode == 0, done.stderr
        else:
            for d in (oci(cache_home), oci(cache_home) / "blobs" / "sha256", oci(cache_home) / "incoming", cache_home):
                d.chmod(0o555)
        other = write_chart(tmp_path / "other", name="other")
        helm_oci.run("push", other, f"oci://{registry.host}/charts", PLAIN,
                     env={"HELM_CACHE_HOME": str(tmp_path / "publisher-cache")})
        why = "read-only file system" if as_root else "permission denied"
        for args in (["save", other, "localhost:5000/ns"], ["remove", "localhost:5000/ns/mychart:0.1.0"]):
            line = helm_oci.fails(*args)
            assert "cache" in line and why in line, line
        # A pull writes no cache in Helm: here it goes through one of its own, in the temp
        # directory, removed after it; so does one whose cache cannot even be made.
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        for home, said in ((cache_home, f"the chart cache cannot be written: cannot write into {oci(cache_home)}"),
                           (cache_home / "none", f"cannot create the chart cache {oci(cache_home / 'none')}")):
            out = tmp_path / "out" / home.name
            p = helm_oci.run("pull", f"oci://{registry.host}/charts/other:0.1.0", "-d", out, PLAIN,
                             env={"HELM_CACHE_HOME": str(home), "TMPDIR": str(scratch)})
            assert p.stdout.startswith(f"Pulled: {registry.host}/charts/other:0.1.0\n")
            assert p.stderr == f"WARNING: {said}: {why}; this pull keeps nothing there\n", p.stderr
            assert files_left(out) == ["other-0.1.0.tgz"] and files_left(scratch) == []
        assert snapshot(oci(cache_home)) == before
        # Reading needs no write.
        assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/ns/mychart:0.1.0"]
        helm_oci.run("export", "localhost:5000/ns/mychart:0.1.0", "-d", tmp_path / "exported")
        assert tree(tmp_path / "exported" / "mychart") == tree(chart)
        # Nor does an offline pull of what it holds (a cache baked read-only into an image).
        helm_oci.run("pull", "oci://localhost:5000/ns/mychart:0.1.0", "--offline", "-d", tmp_path / "offline")
        assert files_left(tmp_path / "offline") == ["mychart-0.1.0.tgz"]
        # By digest too, without a word: what a tag holds needs no entry of its own.
        digest = listed(helm_oci)[0]["digest"]
        p = helm_oci.run("pull", f"oci://localhost:5000/ns/mychart@{digest}", "--offline", "-d", tmp_path / "pinned")
        assert files_left(tmp_path / "pinned") == [pulled_by_digest("mychart", digest)] and p.stderr == "", p.stderr
        line = helm_oci.fails("pull", "oci://localhost:5000/ns/other:0.1.0", "--offline", "-d", tmp_path / "none")
        assert "not in the chart cache" in line
        assert snapshot(oci(cache_home)) == before
    finally:
        if as_root:
            subprocess.run(["umount", str(cache_home)], check=False)
        else:
            for d in (cache_home, oci(cache_home), oci(cache_home) / "blobs" / "sha256", oci(cache_home) / "incoming"):
                d.chmod(0o755)


@pytest.mark.parametrize("stamped", [-300, 20, 3600], ids=["long ago", "20 s ahead", "an hour ahead"])
def test_a_stale_lock_is_taken_over(helm_oci, cache, stocked, tmp_path, stamped):
    """A lock untouched for 30 s was left by a killed run; so was one stamped in the future
    (copied with its times, or written before the clock was set back), which never ages."""
    lock = oci(cache) / "index.json.lock"
    lock.write_text("left by a killed run\n")
    when = time.time() + stamped
    os.utime(lock, (when, when))
    other = write_chart(tmp_path / "other", name="other")
    start = time.monotonic()
    helm_oci.run("save", other, "localhost:5000/ns")
    assert time.monotonic() - start < 10
    assert not lock.exists()
    assert set(verify_layout(cache)) == {"localhost:5000/ns/mychart:0.1.0", "localhost:5000/ns/other:0.1.0"}


@pytest.mark.parametrize("breaker_age", [60, 1], ids=["left by a killed waiter", "in use"])
def test_a_stale_lock_is_removed_only_by_whoever_holds_the_breaker(helm_oci, cache, stocked, tmp_path,
                                                                    breaker_age):
    """Many waiters see a killed run's lock go stale at once: each removes it only while
    holding the breaker, so that none removes the fresh lock of one that got there first.
    A breaker in use is waited on; one left by a waiter killed while holding it (older than
    5 s) is removed, and the stale lock is then taken over."""
    lock, breaker = oci(cache) / "index.json.lock", oci(cache) / "index.json.lock.break"
    lock.write_text("left by a killed run\n")
    long_ago = time.time() - 300
    os.utime(lock, (long_ago, long_ago))
    breaker.write_text("a waiter's\n")
    made = time.time() - breaker_age
    os.utime(breaker, (made, made))
    other = write_chart(tmp_path / "other", name="other")
    start = time.monotonic()
    p = subprocess.Popen([str(BIN), "save", str(other), "localhost:5000/ns"], env=helm_oci.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if breaker_age < 5:
            time.sleep(1.0)
            assert p.poll() is None and lock.read_text() == "left by a killed run\n", "the breaker was not heeded"
        _, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, stderr
    took = time.monotonic() - start
    assert (took >= 3 if breaker_age < 5 else took < 10), took
    assert not lock.exists() and not breaker.exists()
    assert set(verify_layout(cache)) == {"localhost:5000/ns/mychart:0.1.0", "localhost:5000/ns/other:0.1.0"}


def test_a_lock_that_is_no_file_is_said_at_once(helm_oci, cache, stocked, tmp_path):
    """A directory where the lock goes was made by no helm-oci, and none will remove it:
    waiting for it (45 s) would only delay the same failure."""
    lock = oci(cache) / "index.json.lock"
    lock.mkdir()
    other = write_chart(tmp_path / "other", name="other")
    start = time.monotonic()
    line = helm_oci.fails("save", other, "localhost:5000/ns")
    assert time.monotonic() - start < 10
    assert str(lock) in line and "not a file" in line and "remove it" in line, line
    assert lock.is_dir()
    assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/ns/mychart:0.1.0"]


def test_a_prune_that_lost_its_lock_while_paused_deletes_no_more(helm_oci, cache, stocked):
    """A prune paused (SIGSTOP, a laptop's sleep) for longer than its lock lasts may find
    that another run has taken the lock over as a killed run's and is adding entries: it
    checks before it deletes, and every few seconds, and stops deleting then."""
    import signal
    blobs = oci(cache) / "blobs" / "sha256"
    long_ago = time.time() - 7200
    for i in range(30000):
        unused = blobs / hashlib.sha256(b"unused %d" % i).hexdigest()
        unused.write_bytes(b"x")
        os.utime(unused, (long_ago, long_ago))
    lock = oci(cache) / "index.json.lock"
    p = subprocess.Popen([str(BIN), "prune"], env=helm_oci.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 30
        while not lock.exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        p.send_signal(signal.SIGSTOP)
        assert lock.exists(), "the prune ended (or never locked) before it could be paused"
        # Another run takes the lock over as stale, while this one sleeps past the 5 s at
        # which a collection checks its lock again.
        taken = oci(cache) / "taken-over"
        taken.write_text("another run's token")
        taken.replace(lock)
        time.sleep(6)
        p.send_signal(signal.SIGCONT)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, stderr
    assert "took the chart cache's lock over" in stderr and "helm oci prune" in stderr, stderr
    assert lock.read_text() == "another run's token"
    # Some may have gone before the pause; the rest stayed (a prune that went on would have
    # deleted every one).
    left = [n for n in os.listdir(blobs) if not n.startswith(".")]
    assert len(left) > 1000, f"{len(left)} blobs left"
    assert [r["ref"] for r in listed(helm_oci)] == [stocked[0]]


def save_behind_a_held_lock(helm_oci, cache, tmp_path, run=()):
    """Saves another chart (through `run`, say faketime) while a live run holds the lock:
    the save must wait, taking nothing, until the lock goes. Returns its stdout and stderr."""
    lock = oci(cache) / "index.json.lock"
    lock.write_text("held by another helm-oci\n")
    other = write_chart(tmp_path / "other", name="other")
    p = subprocess.Popen([*run, str(BIN), "save", str(other), "localhost:5000/ns"], env=helm_oci.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert p.poll() is None, "the save did not wait for the lock"
        assert lock.read_text() == "held by another helm-oci\n"
        assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/ns/mychart:0.1.0"]
        lock.unlink()
        stdout, stderr = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, stderr
    assert stdout.splitlines()[-1] == "0.1.0: saved"
    return stdout, stderr


def test_a_held_lock_makes_a_save_wait(helm_oci, cache, stocked, tmp_path):
    start = time.monotonic()
    _, stderr = save_behind_a_held_lock(helm_oci, cache, tmp_path)
    assert stderr == ""
    assert 1.0 <= time.monotonic() - start < 15
    assert set(verify_layout(cache)) == {"localhost:5000/ns/mychart:0.1.0", "localhost:5000/ns/other:0.1.0"}


def test_a_held_lock_is_waited_for_only_until_the_deadline(helm_oci, registry, cache, chart, tmp_path):
    """A pull that cannot record itself for the lock still pulls, within its --timeout."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    oci(cache).mkdir(parents=True)
    lock = oci(cache) / "index.json.lock"
    lock.write_text("held by another helm-oci\n")
    start = time.monotonic()
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN,
                     "--timeout", "2s")
    assert time.monotonic() - start < 5
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]
    assert p.stderr.startswith("WARNING: ") and "could not record it" in p.stderr and "--timeout" in p.stderr
    assert lock.read_text() == "held by another helm-oci\n"


def test_blobs_a_concurrent_remove_takes_are_fetched_again(helm_oci, registry, cache, chart, tmp_path):
    """`remove` in another process may take a pull's blobs between their download and the
    write: the pull fetches them again."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    ref = f"{registry.host}/charts/mychart:0.1.0"
    manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
    helm_oci.run("pull", f"oci://{ref}", "-d", tmp_path / "a", PLAIN)
    # The chart layer is gone from the cache, its config is not: the pull downloads the layer
    # alone, slowly, and the remove takes the config meanwhile.
    (oci(cache) / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]).unlink()

    def slow_blobs(method, path, status, headers, body):
        if "/blobs/" in path:
            time.sleep(1.5)
        return status, headers, body

    with Front(registry.host, slow_blobs) as front:
        pull = subprocess.Popen([str(BIN), "pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d",
                                 str(tmp_path / "b"), PLAIN], env=helm_oci.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(0.7)
        helm_oci.run("remove", ref)
        assert not (oci(cache) / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).exists()
        stdout, stderr = pull.communicate(timeout=60)
    assert pull.returncode == 0, stderr
    # The config was fetched again only once the layer had come, its blob gone meanwhile.
    blob_gets = [path.rsplit("/", 1)[-1] for m, path, _ in front.seen if m == "GET" and "/blobs/" in path]
    assert blob_gets == [manifest["layers"][0]["digest"], manifest["config"]["digest"]], blob_gets
    assert (tmp_path / "b" / "mychart-0.1.0.tgz").read_bytes() == (tmp_path / "a" / "mychart-0.1.0.tgz").read_bytes()
    assert set(verify_layout(cache)) == {f"{front.host}/charts/mychart:0.1.0"}


# --- 6. Pushing what was saved ---------------------------------------------------------------

def test_a_saved_chart_is_pushed_byte_for_byte(helm_oci, registry, cache, tmp_path):
    chart = write_chart(tmp_path / "src", name="pushme", version="1.4.0", extra={"files/a.txt": "a\n"})
    ref = f"{registry.host}/ns/pushme:1.4.0"
    digest = saved_digest(helm_oci.run("save", chart, f"{registry.host}/ns").stdout)
    time.sleep(1.1)  # a repackaging would show in the created time, and so in the digest

    p = helm_oci.run("push", ref, PLAIN)
    assert p.stdout == f"Pushed: {ref}\nDigest: {digest}\n"
    blobs = oci(cache) / "blobs" / "sha256"
    pushed = registry.manifest("ns/pushme", "1.4.0")
    assert sha256(pushed) == digest and pushed == (blobs / digest[7:]).read_bytes()
    manifest = json.loads(pushed)
    for blob in (manifest["config"], *manifest["layers"]):
        assert registry.blob("ns/pushme", blob["digest"]) == (blobs / blob["digest"][7:]).read_bytes()

    shown = yaml.safe_load(helm4("show", f"oci://{ref}"))
    assert (shown["name"], shown["version"]) == ("pushme", "1.4.0")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{ref}", "-d", out, PLAIN, env={"HELM_CACHE_HOME": str(tmp_path / "fresh")})
    assert (out / "pushme-1.4.0.tgz").read_bytes() == (blobs / manifest["layers"][0]["digest"][7:]).read_bytes()


@pytest.mark.parametrize("skew", ["+60s", "-60s"], ids=["a minute ahead", "a minute behind"])
def test_a_live_lock_is_not_taken_over_by_a_run_whose_clock_is_off(helm_oci, cache, stocked, tmp_path, skew):
    """A cache on a file server is stamped by the server's clock. A run whose own clock is a
    minute off from it (faketime) waits for a fresh lock, rather than taking it for a killed
    run's, which lost the other run's update to the index."""
    save_behind_a_held_lock(helm_oci, cache, tmp_path, run=("faketime", "-f", skew))
    assert set(verify_layout(cache)) == {"localhost:5000/ns/mychart:0.1.0", "localhost:5000/ns/other:0.1.0"}


def test_saving_again_mends_a_blob_of_the_right_size_with_the_wrong_bytes(helm_oci, cache, stocked, chart, tmp_path):
    """What a crash can leave: a blob of the right size, zero-filled. Saving the chart again
    used to find it "there" and record the entry over it, and export then failed."""
    [entry] = json.loads((oci(cache) / "index.json").read_text())["manifests"]
    blobs = oci(cache) / "blobs" / "sha256"
    manifest = json.loads((blobs / entry["digest"][7:]).read_bytes())
    layer = blobs / manifest["layers"][0]["digest"][7:]
    good = layer.read_bytes()
    layer.write_bytes(bytes(len(good)))
    helm_oci.run("save", chart, "localhost:5000/ns")
    assert layer.read_bytes() == good
    helm_oci.run("export", "localhost:5000/ns/mychart:0.1.0", "-d", tmp_path / "out")
    assert files_left(tmp_path / "out") == ["mychart"]


def test_an_index_that_cannot_be_read_does_not_stop_a_pull(helm_oci, registry, cache, chart, tmp_path):
    """A crash can leave index.json empty. A pull from the registry needs nothing in it: it
    pulls, and the warning says why the cache did not record it and what to do."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    oci(cache).mkdir(parents=True)
    (oci(cache) / "index.json").write_text("")
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN)
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]
    [warning] = p.stderr.splitlines()
    assert warning.startswith("WARNING: ") and "could not record it" in warning and "move it away" in warning, warning
    assert "move it away" in helm_oci.fails("list")


def test_a_run_whose_clock_is_ahead_of_the_caches_deletes_nothing_in_use(helm_oci, cache, stocked):
    """A run whose clock is two hours ahead of a shared cache's file server (faketime): by
    its own clock, another run's fresh blob and the temp file it is writing look two hours
    old, and prune deleted them. They are aged by the file system's clock now."""
    blob = oci(cache) / "blobs" / "sha256" / hashlib.sha256(b"fresh").hexdigest()
    blob.write_bytes(b"fresh")
    writing = oci(cache) / "incoming" / f".helm-oci-{'ab' * 8}-{'cd' * 8}.tmp"
    writing.parent.mkdir(exist_ok=True)
    writing.write_bytes(b"being written")
    p = subprocess.run(["faketime", "-f", "+2h", str(BIN), "prune"], env=helm_oci.env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Deleted 0 unused blobs, freed 0 B\n"
    assert blob.exists() and writing.exists()
