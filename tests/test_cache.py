"""The local chart cache: save, list, export, remove, prune, push from the cache, and pull
through it, against a real registry."""
import filecmp
import hashlib
import json
import time
from pathlib import Path

from conftest import files_left, helm4, pulled_by_digest, write_chart
from fronts import Front

PLAIN = "--plain-http"


def cache_dir(helm_oci):
    return helm_oci.home.parent / "helm-cache" / "oci"


def blobs(helm_oci):
    return sorted(p.name for p in (cache_dir(helm_oci) / "blobs" / "sha256").iterdir())


def listed(helm_oci):
    return json.loads(helm_oci.run("list", "-o", "json").stdout)


def test_save_list_export_remove_round_trip(helm_oci, tmp_path):
    src = write_chart(tmp_path / "src", extra={".helmignore": "*.bak\n", "notes.bak": "x", "files/a.txt": "a\n"})
    saved = helm_oci.run("save", src, "localhost:5000/charts").stdout.splitlines()
    assert saved[0] == "ref:     localhost:5000/charts/mychart:0.1.0"
    assert saved[3:5] == ["name:    mychart", "version: 0.1.0"]
    assert saved[5].startswith("config:  sha256:") and saved[6].startswith("content: sha256:")
    assert saved[-1] == "0.1.0: saved"

    [row] = listed(helm_oci)
    assert (row["ref"], row["name"], row["version"]) == ("localhost:5000/charts/mychart:0.1.0", "mychart", "0.1.0")
    assert row["digest"] == "sha256:" + saved[1].split()[1]
    table = helm_oci.run("list").stdout.splitlines()
    assert table[0].split() == ["REF", "NAME", "VERSION", "DIGEST", "SIZE", "CREATED"]
    assert table[1].split()[:4] == ["localhost:5000/charts/mychart:0.1.0", "mychart", "0.1.0", row["digest"][7:14]]
    assert table[1].rstrip().endswith("ago")

    out = tmp_path / "exported"
    p = helm_oci.run("export", "oci://localhost:5000/charts/mychart:0.1.0", "-d", out)
    assert p.stdout.splitlines()[-1] == f"Exported chart to {out / 'mychart'}/"
    compare = filecmp.dircmp(src, out / "mychart")
    assert compare.left_only == ["notes.bak"] and not compare.right_only and not compare.diff_files
    assert not filecmp.dircmp(src / "templates", out / "mychart" / "templates").diff_files
    assert helm4("show", out / "mychart").startswith("apiVersion: v2\n")

    p = helm_oci.run("remove", "localhost:5000/charts/mychart:0.1.0")
    assert p.stdout.splitlines()[0] == "0.1.0: removed"
    assert p.stdout.splitlines()[1].startswith("Freed ") and p.stdout.splitlines()[1] != "Freed 0 B"
    assert listed(helm_oci) == [] and blobs(helm_oci) == []


def test_an_entry_another_tool_wrote_lists_no_made_up_size_or_age(helm_oci, chart):
    """An ORAS-style entry (a `ref.name`, no chart annotations): its size and creation time
    are unknown, not 0 B and 1970."""
    helm_oci.run("save", chart, "localhost:5000/charts")
    index_path = cache_dir(helm_oci) / "index.json"
    index = json.loads(index_path.read_text())
    ours = index["manifests"][0]
    index["manifests"].append({"mediaType": ours["mediaType"], "digest": ours["digest"], "size": ours["size"],
                               "annotations": {"org.opencontainers.image.ref.name": "v1"}})
    index_path.write_text(json.dumps(index))
    rows = {row["ref"]: row for row in listed(helm_oci)}
    assert rows["v1"]["created"] == "" and rows["v1"]["size"] == 0
    assert rows["localhost:5000/charts/mychart:0.1.0"]["created"].endswith("Z")
    [foreign] = [line for line in helm_oci.run("list").stdout.splitlines() if line.startswith("v1")]
    assert foreign.split() == ["v1", ours["digest"][7:14]], foreign


def test_two_refs_share_their_blobs(helm_oci, chart):
    helm_oci.run("save", chart, "localhost:5000/a/mychart:0.1.0")
    one = blobs(helm_oci)
    helm_oci.run("chart", "save", chart, "localhost:5000/b/mychart:0.1.0")
    assert blobs(helm_oci) == one and len(one) == 3, "manifest, config and chart are kept once"
    assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/a/mychart:0.1.0",
                                                   "localhost:5000/b/mychart:0.1.0"]
    assert helm_oci.run("remove", "localhost:5000/a/mychart:0.1.0").stdout.splitlines()[1] == "Freed 0 B"
    assert blobs(helm_oci) == one
    helm_oci.run("chart", "remove", "localhost:5000/b/mychart:0.1.0")
    assert blobs(helm_oci) == []


def test_pinned_pull_from_a_warm_cache_needs_no_registry(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    first = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "a", PLAIN)
    digest = first.stdout.split("Digest: ")[1].strip()
    registry.stop()
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart@{digest}", "-d", tmp_path / "b", PLAIN)
    assert p.stdout.splitlines()[1] == f"Digest: {digest}"
    pinned = tmp_path / "b" / pulled_by_digest("mychart", digest)
    assert pinned.read_bytes() == (tmp_path / "a" / "mychart-0.1.0.tgz").read_bytes()
    # --offline takes a tag, or the newest cached version, from the cache alone.
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "--offline", "-d", tmp_path / "c", "--untar")
    assert (tmp_path / "c" / "mychart" / "Chart.yaml").exists()


def test_a_digest_cached_for_another_repository_is_asked_of_the_registry(helm_oci, registry, chart, tmp_path):
    """The cache holds content by digest, but a pin under another repository says nothing of
    what that repository has: the registry is asked, as Helm asks it."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    first = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "a", PLAIN)
    digest = first.stdout.split("Digest: ")[1].strip()
    line = helm_oci.fails("pull", f"oci://{registry.host}/elsewhere/mychart@{digest}", "-d", tmp_path / "b", PLAIN)
    assert "not found" in line, line
    line = helm_oci.fails("pull", f"oci://{registry.host}/elsewhere/mychart@{digest}", "--offline",
                          "-d", tmp_path / "b")
    assert "not in the chart cache" in line, line
    assert not (tmp_path / "b").exists() or files_left(tmp_path / "b") == []
    assert [r["ref"] for r in listed(helm_oci)] == [f"{registry.host}/charts/mychart:0.1.0"]
    # Where the registry has it, the pin is pulled, with no blob downloaded again.
    helm_oci.run("push", chart, f"oci://{registry.host}/elsewhere", PLAIN)
    with Front(registry.host) as front:
        helm_oci.run("pull", f"oci://{front.host}/elsewhere/mychart@{digest}", "-d", tmp_path / "c", PLAIN)
        assert [(m, p) for m, p, _ in front.seen] == [("GET", f"/v2/elsewhere/mychart/manifests/{digest}")]


def test_a_warm_pull_leaves_the_index_as_it_was(helm_oci, registry, chart, tmp_path):
    """An entry already naming what was pulled keeps its time of entry, and the index is
    neither locked nor written."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    ref = f"oci://{registry.host}/charts/mychart:0.1.0"
    helm_oci.run("pull", ref, "-d", tmp_path / "a", PLAIN)
    index = cache_dir(helm_oci) / "index.json"
    before, stat = index.read_bytes(), index.stat()
    time.sleep(1.1)
    helm_oci.run("pull", ref, "-d", tmp_path / "b", PLAIN)
    helm_oci.run("pull", ref, "-d", tmp_path / "c", "--offline")
    assert index.read_bytes() == before and index.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_warm_tag_pull_makes_one_head_and_a_moved_tag_fetches_only_what_is_missing(
        helm_oci, registry, tmp_path):
    v1 = write_chart(tmp_path / "v1")
    helm_oci.run("push", v1, f"oci://{registry.host}/charts", PLAIN)
    with Front(registry.host) as front:
        ref = f"oci://{front.host}/charts/mychart:0.1.0"
        helm_oci.run("pull", ref, "-d", tmp_path / "a", PLAIN)
        front.seen.clear()
        helm_oci.run("pull", ref, "-d", tmp_path / "b", PLAIN)
        assert [(m, p) for m, p, _ in front.seen] == [("HEAD", "/v2/charts/mychart/manifests/0.1.0")]

        # The tag moves to a chart that differs only in a template: the config is cached.
        v2 = write_chart(tmp_path / "v2", extra={"templates/more.yaml": "kind: Secret\n"})
        helm_oci.run("push", v2, f"oci://{registry.host}/charts", PLAIN)
        front.seen.clear()
        helm_oci.run("pull", ref, "-d", tmp_path / "c", PLAIN)
        asked = [(m, p.split("/")[-2]) for m, p, _ in front.seen]
        assert asked == [("HEAD", "manifests"), ("GET", "manifests"), ("GET", "blobs")], asked
    assert (tmp_path / "c" / "mychart-0.1.0.tgz").read_bytes() != (tmp_path / "a" / "mychart-0.1.0.tgz").read_bytes()


def test_a_registry_that_answers_no_head_is_read_with_a_get_again(helm_oci, registry, chart, tmp_path):
    """Older Nexus, and some proxies, refuse HEAD on manifests (405): a pull of a cached tag
    then reads the manifest with a GET, as Helm does, instead of failing."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)

    def no_head(method, path, headers):
        return (405, [], b"") if method == "HEAD" and "/manifests/" in path else None

    with Front(registry.host, intercept=no_head) as front:
        ref = f"oci://{front.host}/charts/mychart:0.1.0"
        helm_oci.run("pull", ref, "-d", tmp_path / "a", PLAIN)
        front.seen.clear()
        for again in ([ref], [f"oci://{front.host}/charts/mychart", "--version", "0.1.0"]):
            out = tmp_path / f"again-{len(again)}"
            helm_oci.run("pull", *again, "-d", out, PLAIN)
            assert (out / "mychart-0.1.0.tgz").read_bytes() == (tmp_path / "a" / "mychart-0.1.0.tgz").read_bytes()
        assert ("GET", "/v2/charts/mychart/manifests/0.1.0") in [(m, p) for m, p, _ in front.seen]


def test_push_of_a_saved_chart_pushes_it_as_it_is(helm_oci, registry, chart, tmp_path):
    ref = f"{registry.host}/charts/mychart:0.1.0"
    saved = helm_oci.run("save", chart, ref).stdout.splitlines()
    digest = "sha256:" + saved[1].split()[1]
    p = helm_oci.run("push", f"oci://{ref}", PLAIN)
    assert p.stdout.splitlines() == [f"Pushed: {ref}", f"Digest: {digest}"]
    manifest = registry.manifest("charts/mychart", "0.1.0")
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
    assert "name: mychart" in helm4("show", f"oci://{ref}")
    helm_oci.run("chart", "push", ref, PLAIN)


def test_offline_and_missing_refs_are_errors(helm_oci, chart, tmp_path):
    line = helm_oci.fails("pull", "oci://localhost:5000/charts/nothing:1.0.0", "--offline", "-d", tmp_path)
    assert line == ("Error: localhost:5000/charts/nothing:1.0.0: it is not in the chart cache (--offline)")
    assert helm_oci.fails("export", "localhost:5000/charts/nothing:1.0.0") == (
        "Error: localhost:5000/charts/nothing:1.0.0: it is not in the chart cache")
    assert helm_oci.fails("remove", "localhost:5000/charts/nothing:1.0.0").startswith("Error: ")
    assert helm_oci.fails("push", "localhost:5000/charts/nothing:1.0.0").startswith("Error: ")
    # Without a tag the newest stable version is wanted: the tags that are there are named.
    helm_oci.run("save", write_chart(tmp_path / "pre", name="pre", version="0.2.0-rc.1"), "localhost:5000/q")
    helm_oci.run("save", write_chart(tmp_path / "custom", name="pre", version="v0.1.0"), "localhost:5000/q/pre:custom")
    assert helm_oci.fails("export", "localhost:5000/q/pre", "-d", tmp_path / "out") == (
        "Error: localhost:5000/q/pre: no stable version of it is in the chart cache; name one of its tags there: "
        "0.2.0-rc.1, custom")
    assert helm_oci.run("export", "localhost:5000/q/pre:0.2.0-rc.1", "-d", tmp_path / "out").returncode == 0


def test_prune_spares_what_is_used_and_what_is_new(helm_oci, chart, tmp_path):
    import os
    import time
    helm_oci.run("save", chart, "localhost:5000/charts")
    orphan = cache_dir(helm_oci) / "blobs" / "sha256" / hashlib.sha256(b"orphan").hexdigest()
    orphan.write_bytes(b"orphan")
    assert helm_oci.run("prune").stdout == "Deleted 0 unused blobs, freed 0 B\n"
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    assert helm_oci.run("prune").stdout == "Deleted 1 unused blob, freed 6 B\n"
    assert not orphan.exists() and len(blobs(helm_oci)) == 3


def test_chart_save_takes_a_reference_without_a_tag_as_the_repository(helm_oci, chart):
    """As Helm 3.0-3.6's `helm chart save` did; `save` takes it as a namespace, as push does."""
    assert helm_oci.run("chart", "save", chart, "localhost:5000/repo/app").stdout.endswith("0.1.0: saved\n")
    helm_oci.run("save", chart, "localhost:5000/repo/app")
    assert [r["ref"] for r in listed(helm_oci)] == ["localhost:5000/repo/app/mychart:0.1.0",
                                                   "localhost:5000/repo/app:0.1.0"]


def test_remove_names_a_tag_or_a_digest(helm_oci, chart):
    saved = helm_oci.run("save", chart, "localhost:5000/charts").stdout.splitlines()
    digest = "sha256:" + saved[1].split()[1]
    line = helm_oci.fails("remove", "localhost:5000/charts/mychart")
    assert line == "Error: cannot remove localhost:5000/charts/mychart: give its tag or digest"
    # A digest finds the entry cached under its tag, in the same repository only.
    assert helm_oci.fails("remove", f"localhost:5000/other/mychart@{digest}").endswith("not in the chart cache")
    assert helm_oci.run("remove", f"localhost:5000/charts/mychart@{digest}").stdout.startswith("0.1.0: removed")
    assert listed(helm_oci) == []

    # A digest alone names the manifest however it is cached: every tag of it goes at once.
    for tag in ("0.1.0", "stable"):
        helm_oci.run("save", chart, f"localhost:5000/charts/mychart:{tag}")
    assert {r["digest"] for r in listed(helm_oci)} == {digest}
    # With a tag, that tag alone, and with a digest too only if it holds that manifest.
    other = "sha256:" + "0" * 64
    assert helm_oci.fails("remove", f"localhost:5000/charts/mychart:stable@{other}").endswith("not in the chart cache")
    assert helm_oci.run("remove", f"localhost:5000/charts/mychart:stable@{digest}").stdout.startswith("stable: removed")
    helm_oci.run("save", chart, "localhost:5000/charts/mychart:stable")
    lines = helm_oci.run("remove", f"localhost:5000/charts/mychart@{digest}").stdout.splitlines()
    assert lines[:2] == ["0.1.0: removed", "stable: removed"] and lines[2].startswith("Freed ") and lines[2] != "Freed 0 B"
    assert listed(helm_oci) == []


def test_a_pulled_signed_chart_is_cached_whole(helm_oci, registry, chart, tmp_path):
    packaged = helm4("package", chart, tmp_path).strip()
    prov = tmp_path / "mychart-0.1.0.tgz.prov"
    prov.write_text("-----BEGIN PGP SIGNED MESSAGE-----\nnot checked here\n")
    helm_oci.run("push", packaged, f"oci://{registry.host}/signed", PLAIN)
    ref = f"oci://{registry.host}/signed/mychart:0.1.0"
    helm_oci.run("pull", ref, "-d", tmp_path / "out", PLAIN)
    stored = cache_dir(helm_oci) / "blobs" / "sha256" / hashlib.sha256(prov.read_bytes()).hexdigest()
    assert stored.read_bytes() == prov.read_bytes()
    assert helm_oci.run("push", ref, PLAIN).stdout.startswith(f"Pushed: {registry.host}/signed/mychart:0.1.0\n")


def test_pull_prov_writes_the_provenance_file_beside_the_archive(helm_oci, registry, chart, tmp_path):
    """Helm's `pull --prov`: the `.prov` beside the archive; a chart without one is pulled
    with a warning, as Helm warns; an unpacked chart gets none, as in Helm."""
    packaged = helm4("package", chart, tmp_path).strip()
    prov = Path(packaged + ".prov")
    prov.write_text("-----BEGIN PGP SIGNED MESSAGE-----\nnot checked here\n")
    helm_oci.run("push", packaged, f"oci://{registry.host}/signed", PLAIN)
    helm_oci.run("push", chart, f"oci://{registry.host}/unsigned", PLAIN)
    out = tmp_path / "out"
    p = helm_oci.run("pull", f"oci://{registry.host}/signed/mychart", "--prov", "-d", out, PLAIN)
    assert (out / "mychart-0.1.0.tgz.prov").read_bytes() == prov.read_bytes()
    assert (out / "mychart-0.1.0.tgz").read_bytes() == Path(packaged).read_bytes()
    assert p.stderr == ""
    bare = tmp_path / "bare"
    p = helm_oci.run("pull", f"oci://{registry.host}/unsigned/mychart", "--prov", "-d", bare, PLAIN)
    # As Helm says it: on stdout after the pull, of the reference as given.
    assert p.stderr == ""
    assert p.stdout.endswith(f"\nWARNING: Verification not found for oci://{registry.host}/unsigned/mychart: "
                             "it has no provenance file\n")
    assert sorted(f.name for f in bare.iterdir()) == ["mychart-0.1.0.tgz"]
    unpacked = tmp_path / "unpacked"
    helm_oci.run("pull", f"oci://{registry.host}/signed/mychart", "--prov", "--untar", "-d", unpacked, PLAIN)
    assert sorted(f.name for f in unpacked.iterdir()) == ["mychart"]


def test_prune_deletes_nothing_while_an_entry_cannot_be_read(helm_oci, chart):
    """Another tool's image index whose manifest is missing: what it uses is unknown."""
    import os
    import time
    helm_oci.run("save", chart, "localhost:5000/charts")
    index_path = cache_dir(helm_oci) / "index.json"
    index = json.loads(index_path.read_text())
    nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": "sha256:" + "0" * 64, "size": 10}]}
    data = json.dumps(nested).encode()
    blob_dir = cache_dir(helm_oci) / "blobs" / "sha256"
    (blob_dir / hashlib.sha256(data).hexdigest()).write_bytes(data)
    index["manifests"].append({"mediaType": nested["mediaType"], "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                               "size": len(data), "annotations": {"org.opencontainers.image.ref.name": "other"}})
    index_path.write_text(json.dumps(index))
    orphan = blob_dir / hashlib.sha256(b"orphan").hexdigest()
    orphan.write_bytes(b"orphan")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    p = helm_oci.run("prune")
    assert p.stdout == "Deleted 0 unused blobs, freed 0 B\n"
    assert p.stderr == ("WARNING: no blob was deleted: the cached manifest of other cannot be read, so what it uses "
                        "is unknown (`helm oci remove other`)\n")
    assert orphan.exists()
    # So does a removal: the entry goes, its blobs stay, and it says why.
    p = helm_oci.run("remove", "localhost:5000/charts/mychart:0.1.0")
    assert p.stdout == "0.1.0: removed\nFreed 0 B\n"
    assert "no blob was deleted: the cached manifest of other cannot be read" in p.stderr
    assert [e["annotations"]["org.opencontainers.image.ref.name"] for e in json.loads(index_path.read_text())["manifests"]][-1] == "other"
