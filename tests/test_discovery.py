"""Discovery: `tags` and `search` against the real docker-registry, seeded with charts (one
pushed by Helm 4.3 itself), an ordinary OCI image and a broken chart; Helm's version
constraints end to end, prereleases with and without --devel, build metadata and `v`
prefixes; paged lists; repositories that fail; registries that will not list their
catalog; and per-repository tokens through a token server."""
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import yaml

from conftest import Registry, config_json, helm4, tgz, write_chart
from fronts import Front
from tokenserver import TokenServer

# charts/alpha's versions, newest first, as `tags --devel` must list them.
ALPHA = ["3.1.0-alpha.1", "3.0.0", "2.1.0", "2.0.0", "2.0.0-beta.1", "v1.6.0", "1.5.0", "1.4.2", "1.3.0",
         "1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0", "1.0.0", "1.0.0-rc.1", "0.2.5", "0.2.0", "0.1.0"]
STABLE = [v for v in ALPHA if "-" not in v]


def chart_files(name, version, **fields):
    """A chart's archive and config, made by hand the way Helm lays them out."""
    meta = {"apiVersion": "v2", "name": name, "version": version, **fields}
    chart_yaml = "".join(f"{k}: {json.dumps(v)}\n" for k, v in meta.items()).encode()
    layer = tgz({f"{name}/Chart.yaml": chart_yaml, f"{name}/values.yaml": b"a: 1\n"})
    return config_json(name, version, **fields), layer


def seed(reg, repo, version, tag=None, **fields):
    name = repo.rsplit("/", 1)[-1]
    config, layer = chart_files(name, version, **fields)
    reg.put_chart(repo, tag or version.replace("+", "_"), config, layer)


def seed_image(reg, repo, tag):
    reg.put_chart(repo, tag, b'{"architecture":"amd64","os":"linux"}', tgz({"etc/hostname": b"x\n"}),
                  layer_type="application/vnd.oci.image.layer.v1.tar+gzip",
                  config_type="application/vnd.oci.image.config.v1+json")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One registry for the module: charts/alpha (every version shape), charts/beta (a tag
    with build metadata, a `v` tag and `latest`), charts/gamma (pushed by Helm 4.3),
    other/delta, images/nginx (an ordinary image) and charts/broken (an invalid config)."""
    root = tmp_path_factory.mktemp("discovery")
    reg = Registry(root / "registry")
    for v in ALPHA:
        seed(reg, "charts/alpha", v, appVersion=f"app-{v}", description=f"Alpha at {v}")
    seed(reg, "charts/beta", "1.2.3+build.5", description="Beta <b> & co")
    seed(reg, "charts/beta", "v1.3.0", appVersion="1.3", description="Beta <b> & co")
    seed(reg, "charts/beta", "v1.3.0", tag="latest", appVersion="1.3", description="Beta <b> & co")
    chart = write_chart(root / "src", name="gamma", version="0.3.0", description="Packaged by Helm",
                        appVersion="7.0")
    packaged = helm4("package", chart, root / "pkg").strip()
    helm4("push", packaged, f"oci://{reg.host}/charts")
    seed(reg, "other/delta", "3.0.0", description="Elsewhere")
    seed_image(reg, "images/nginx", "1.25.0")
    seed_image(reg, "images/nginx", "latest")
    reg.put_chart("charts/broken", "1.0.0", b'{"name": "broken"}', tgz({"broken/Chart.yaml": b"name: broken\n"}))
    yield reg
    reg.stop()


def tags(helm_oci, reg, repo, *flags):
    p = helm_oci.run("tags", f"oci://{reg.host}/{repo}", "--plain-http", "-o", "json", *flags)
    return [e["version"] for e in json.loads(p.stdout)]


def search_json(helm_oci, target, *flags):
    p = helm_oci.run("search", target, "--plain-http", "-o", "json", *flags)
    return json.loads(p.stdout), p.stderr


def test_tags_lists_versions_newest_first(helm_oci, seeded):
    assert tags(helm_oci, seeded, "charts/alpha") == STABLE
    assert tags(helm_oci, seeded, "charts/alpha", "--devel") == ALPHA
    # The table: one version per line, `_` shown as `+`.
    p = helm_oci.run("tags", f"oci://{seeded.host}/charts/beta", "--plain-http")
    assert [l.strip() for l in p.stdout.splitlines()] == ["VERSION", "v1.3.0", "1.2.3+build.5"]


def test_tags_of_prereleases_alone_says_that_devel_lists_them(helm_oci, registry):
    for version in ("1.1.0-rc.1", "1.2.0-rc.2", "0.9.0"):
        seed(registry, "charts/early", version)
    p = helm_oci.run("tags", f"oci://{registry.host}/charts/early", "--plain-http", "--version", "^1")
    assert p.stdout == "No results found\n"
    assert p.stderr == f"WARNING: only prereleases of {registry.host}/charts/early match; --devel lists them (2)\n"
    assert tags(helm_oci, registry, "charts/early", "--version", "^1", "--devel") == ["1.2.0-rc.2", "1.1.0-rc.1"]
    # Where a stable version is listed, the prereleases left out are not worth a word.
    p = helm_oci.run("tags", f"oci://{registry.host}/charts/early", "--plain-http")
    assert p.stdout.split() == ["VERSION", "0.9.0"] and p.stderr == ""


def test_tags_all_shows_what_other_tags_point_to(helm_oci, seeded):
    p = helm_oci.run("tags", f"oci://{seeded.host}/charts/beta", "--plain-http", "--all", "-o", "json")
    entries = json.loads(p.stdout)
    assert [(e["tag"], e.get("version")) for e in entries] == [
        ("v1.3.0", "v1.3.0"), ("1.2.3_build.5", "1.2.3+build.5"), ("latest", "v1.3.0")]
    assert entries[2]["digest"].startswith("sha256:")
    # A version tag is listed as one without being read (as Helm lists tags); another tag is
    # read, and an image is no chart.
    image = helm_oci.run("tags", f"oci://{seeded.host}/images/nginx", "--plain-http", "--all", "-o", "yaml")
    assert image.stdout == "- tag: 1.25.0\n  version: 1.25.0\n- tag: latest\n"
    p = helm_oci.run("tags", f"oci://{seeded.host}/charts/beta", "--plain-http", "--all")
    assert [l.split() for l in p.stdout.splitlines()] == [["TAG", "VERSION"], ["v1.3.0", "v1.3.0"],
                                                          ["1.2.3_build.5", "1.2.3+build.5"], ["latest", "v1.3.0"]]
    line = helm_oci.fails("tags", f"oci://{seeded.host}/charts/beta:latest", "--plain-http")
    assert "leave out the tag" in line


# Each form from the issue, and what Masterminds' documented semantics admit of ALPHA.
MATRIX = [
    (">=1.0 <2.0", [], ["v1.6.0", "1.5.0", "1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0", "1.0.0"]),
    (">=1.0, <2.0", [], ["v1.6.0", "1.5.0", "1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0", "1.0.0"]),
    ("^1.2", [], ["v1.6.0", "1.5.0", "1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0"]),
    ("~1.2.3", [], ["1.2.9", "1.2.3", "1.2.3+build.5"]),
    ("~1", [], ["v1.6.0", "1.5.0", "1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0", "1.0.0"]),
    ("1.2.x", [], ["1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0"]),
    ("1.2.*", [], ["1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0"]),
    ("1.2 - 1.4", [], ["1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0"]),
    ("^1 || ^2", [], ["2.1.0", "2.0.0", "v1.6.0", "1.5.0", "1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5",
                      "1.2.0", "1.0.0"]),
    ("!=1.2.3", [], [v for v in STABLE if not v.startswith("1.2.3")]),
    ("1.2.3", [], ["1.2.3", "1.2.3+build.5"]),
    ("v1.6.0", [], ["v1.6.0"]),
    ("*", [], STABLE),
    ("*", ["--devel"], ALPHA),
    # --devel lets a constraint's prereleases in; naming one does the same for its alternative.
    (">=2.0.0-0 <3", [], ["2.1.0", "2.0.0", "2.0.0-beta.1"]),
    ("^2.0.0-0 || ^3.0.0", [], ["3.0.0", "2.1.0", "2.0.0", "2.0.0-beta.1"]),
    (">=3", ["--devel"], ["3.1.0-alpha.1", "3.0.0"]),
    (">=3", [], ["3.0.0"]),
    ("1.2.3+build.5", [], ["1.2.3", "1.2.3+build.5"]),
    ("^9", [], []),
]


@pytest.mark.parametrize("constraint,flags,expected", MATRIX, ids=[f"{c} {' '.join(f)}" for c, f, _ in MATRIX])
def test_constraint_matrix(helm_oci, seeded, constraint, flags, expected):
    assert tags(helm_oci, seeded, "charts/alpha", "--version", constraint, *flags) == expected


def test_pull_resolves_constraints_like_helm(helm_oci, seeded, tmp_path):
    def pulled(*flags):
        out = tmp_path / "out" / str(len(flags)) / "_".join(flags).replace("/", "-")
        out.mkdir(parents=True)
        helm_oci.run("pull", f"oci://{seeded.host}/charts/alpha", "--plain-http", "-d", out, *flags)
        return sorted(p.name for p in out.iterdir())

    assert pulled() == ["alpha-3.0.0.tgz"]
    assert pulled("--devel") == ["alpha-3.1.0-alpha.1.tgz"]
    assert pulled("--version", "^1") == ["alpha-v1.6.0.tgz"]
    assert pulled("--version", "~1.2.3") == ["alpha-1.2.9.tgz"]
    assert pulled("--version", ">=1.0.0-rc.1 <1.0.0") == ["alpha-1.0.0-rc.1.tgz"]
    # A version is a tag, as in Helm; no listing.
    assert pulled("--version", "1.2.3+build.5") == ["alpha-1.2.3+build.5.tgz"]
    line = helm_oci.fails("pull", f"oci://{seeded.host}/charts/alpha", "--plain-http", "-d", tmp_path,
                          "--version", "^9")
    assert "no chart version matches \"^9\"" in line
    line = helm_oci.fails("pull", f"oci://{seeded.host}/charts/alpha:1.2.0", "--plain-http", "-d", tmp_path,
                          "--version", "^2")
    assert "1.2.0" in line and "^2" in line


@pytest.mark.parametrize("bad,named", [(">= bar", '"bar"'), ("1.2 ||", "empty"), ("12.3.34~ 1.2.3", '"~'),
                                       ("1.2.3.4", '"1.2.3.4"')])
def test_an_invalid_constraint_is_named(helm_oci, seeded, bad, named, tmp_path):
    for command in (["tags", f"oci://{seeded.host}/charts/alpha"], ["search", seeded.host],
                    ["pull", f"oci://{seeded.host}/charts/alpha", "-d", tmp_path]):
        line = helm_oci.fails(*command, "--plain-http", "--version", bad)
        assert "--version" in line and named in line, line


def test_search_finds_exactly_the_charts(helm_oci, seeded):
    hits, stderr = search_json(helm_oci, seeded.host)
    assert hits == [
        {"name": f"{seeded.host}/charts/alpha", "version": "3.0.0", "app_version": "app-3.0.0",
         "description": "Alpha at 3.0.0"},
        {"name": f"{seeded.host}/charts/beta", "version": "v1.3.0", "app_version": "1.3",
         "description": "Beta <b> & co"},
        {"name": f"{seeded.host}/charts/gamma", "version": "0.3.0", "app_version": "7.0",
         "description": "Packaged by Helm"},
        {"name": f"{seeded.host}/other/delta", "version": "3.0.0", "app_version": "", "description": "Elsewhere"},
    ]
    # The broken chart is named on stderr; the image is no chart and no failure.
    assert stderr.startswith(f"WARNING: skipped charts/broken: {seeded.host}/charts/broken:1.0.0:")
    assert len(stderr.splitlines()) == 1 and "nginx" not in stderr


def test_search_prints_helms_table(helm_oci, seeded):
    p = helm_oci.run("search", f"{seeded.host}/charts", "beta", "--plain-http")
    name = f"{seeded.host}/charts/beta"
    assert p.stdout == (f"NAME{' ' * (len(name) - 4)}\tCHART VERSION\tAPP VERSION\tDESCRIPTION  \n"
                        f"{name}\tv1.3.0       \t1.3        \tBeta <b> & co\n")
    p = helm_oci.run("search", seeded.host, "nothing-like-it", "--plain-http")
    assert p.stdout == "No results found\n"
    for output in ("table", "json"):
        p = helm_oci.run("search", seeded.host, "nothing-like-it", "--plain-http", "--fail-on-no-result",
                         "-o", output, check=False)
        # As in Helm, the error alone: nothing on stdout for a pipeline to take as a listing.
        assert helm_oci.error_line(p) == "Error: no results found" and p.stdout == "", output


def test_search_yaml_quotes_what_yaml_1_1_would_read_as_another_type(helm_oci, registry):
    """As go-yaml v2 (sigs.k8s.io/yaml, Helm's) writes them: any YAML reader gets the
    strings back, PyYAML (YAML 1.1) included."""
    seed(registry, "charts/odd", "1.2", appVersion="on", description="2024-01-15")
    p = helm_oci.run("search", f"{registry.host}/charts", "--plain-http", "-o", "yaml")
    assert p.stdout == (f"- app_version: \"on\"\n  description: \"2024-01-15\"\n  name: {registry.host}/charts/odd\n"
                        "  version: \"1.2\"\n")
    assert yaml.safe_load(p.stdout) == [{"app_version": "on", "description": "2024-01-15",
                                         "name": f"{registry.host}/charts/odd", "version": "1.2"}]


def test_search_leaves_out_version_0_0_0_unless_devel_as_helm_does(helm_oci, registry):
    for version in ("0.0.0", "0.1.0-rc.1"):
        seed(registry, "charts/zero", version)
    hits, _ = search_json(helm_oci, f"{registry.host}/charts", "--versions")
    assert hits == []
    hits, _ = search_json(helm_oci, f"{registry.host}/charts", "--versions", "--version", "")
    assert hits == [], "an empty --version (a script's unset variable) is none, as in Helm"
    hits, _ = search_json(helm_oci, f"{registry.host}/charts", "--versions", "--devel")
    assert [h["version"] for h in hits] == ["0.1.0-rc.1", "0.0.0"]
    hits, _ = search_json(helm_oci, f"{registry.host}/charts", "--version", ">=0.0.0")
    assert [h["version"] for h in hits] == ["0.0.0"]


def test_search_yaml_has_helms_fields_sorted(helm_oci, seeded):
    p = helm_oci.run("search", f"{seeded.host}/other", "--plain-http", "-o", "yaml")
    assert p.stdout == (f"- app_version: \"\"\n  description: Elsewhere\n  name: {seeded.host}/other/delta\n"
                        "  version: 3.0.0\n")


def test_search_namespace_term_and_versions(helm_oci, seeded):
    hits, _ = search_json(helm_oci, f"{seeded.host}/charts", "ALP", "--versions")
    assert [h["version"] for h in hits] == STABLE
    assert {h["name"] for h in hits} == {f"{seeded.host}/charts/alpha"}
    hits, _ = search_json(helm_oci, f"oci://{seeded.host}/charts/", "alpha", "-l", "--devel")
    assert [h["version"] for h in hits] == ALPHA
    # App version and description are each version's own, from its config.
    assert all(h["app_version"] == f"app-{h['version']}" for h in hits)
    hits, stderr = search_json(helm_oci, f"{seeded.host}/other")
    assert [h["name"] for h in hits] == [f"{seeded.host}/other/delta"] and stderr == ""
    # A chart's own repository is searched itself (its path alone, not the paths it begins).
    hits, stderr = search_json(helm_oci, f"oci://{seeded.host}/charts/alpha", "--versions")
    assert [h["version"] for h in hits] == STABLE and stderr == ""
    assert {h["name"] for h in hits} == {f"{seeded.host}/charts/alpha"}
    assert search_json(helm_oci, f"{seeded.host}/charts/alp")[0] == []


def test_short_versions_are_listed_and_a_stray_tag_hides_only_itself(helm_oci, registry):
    """A chart may be version `1.2` or `v2` (Helm packages both): its own tag is no floating
    tag. A version tag whose chart is another version is passed over alone, not with every
    other version of its repository."""
    for version in ("1.2", "v2", "1.3.0"):
        seed(registry, "charts/short", version)
    seed(registry, "charts/short", "1.3.0", tag="1.4.0")
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "--versions")
    assert [h["version"] for h in hits] == ["v2", "1.3.0", "1.2"]
    assert stderr.splitlines() == [
        f"WARNING: skipped charts/short: {registry.host}/charts/short:1.4.0: the registry served version 1.3.0"
        " where the tag says 1.4.0"]
    helm_oci.fails("search", f"{registry.host}/charts", "--versions", "--plain-http", "--fail-fast")


@pytest.mark.parametrize("off_by", [3, -3])
def test_a_config_of_the_wrong_size_hides_only_its_version(helm_oci, registry, tmp_path, off_by):
    """A manifest whose config descriptor gives the wrong size: that version is passed over
    (as Helm refuses it alone: "mismatch Content-Length"), the repository's others are
    listed, and pulling it says the sizes, not the range error a resume got (the registry
    has nothing past the blob's real end)."""
    seed(registry, "charts/sized", "1.0.0")
    config, layer = chart_files("sized", "1.1.0")
    manifest = json.loads(registry.put_chart("charts/sized", "1.1.0", config, layer))
    manifest["config"]["size"] += off_by
    registry.put_manifest("charts/sized", "1.1.0", json.dumps(manifest).encode())
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "--versions")
    assert [h["version"] for h in hits] == ["1.0.0"]
    sizes = f"digest mismatch: expected {len(config) + off_by} bytes, got {len(config)} bytes"
    assert stderr.startswith("WARNING: skipped charts/sized: ") and stderr.rstrip().endswith(sizes), stderr
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/sized", "--version", "1.1.0", "-d", tmp_path,
                          "--plain-http")
    assert line.endswith(sizes), line


def test_floating_tags_and_indexes_do_not_get_in_the_way(helm_oci, registry, tmp_path):
    """Floating tags (`1`, `1.4` on 1.4.2, as `helm oci tag` puts them) are no candidates for
    a constraint, and a tag naming an index (a signature's `sha256-…` tag) is no chart. A
    repository whose newest version is an image reads as an image repository without
    --versions: no search reads every tag of every image repository."""
    for version in ("1.0.0", "1.4.2"):
        seed(registry, "charts/alpha", version)
    seed(registry, "charts/alpha", "1.4.2", tag="1")
    seed(registry, "charts/alpha", "1.4.2", tag="1.4")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    registry.put_manifest("charts/alpha", "sha256-" + "a" * 64, json.dumps(index).encode(),
                          media_type="application/vnd.oci.image.index.v1+json")
    seed_image(registry, "charts/alpha", "2.0.0")
    ref = f"oci://{registry.host}/charts/alpha"
    for constraint in ("1.0.x", "<1.4.1", "~1.0"):
        p = helm_oci.run("pull", ref, "--version", constraint, "-d", tmp_path / constraint, "--plain-http")
        assert p.stdout.startswith(f"Pulled: {registry.host}/charts/alpha:1.0.0\n"), constraint
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "--version", "~1.0")
    assert [h["version"] for h in hits] == ["1.0.0"] and stderr == ""
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts")
    assert hits == [] and stderr == ""
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "--versions")
    assert [h["version"] for h in hits] == ["1.4.2", "1.0.0"] and stderr == ""
    # Below the image, the newest chart is found past the floating tags.
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "--version", "<2")
    assert [h["version"] for h in hits] == ["1.4.2"] and stderr == ""
    assert tags(helm_oci, registry, "charts/alpha") == ["2.0.0", "1.4.2", "1.0.0"]
    p = helm_oci.run("tags", ref, "--plain-http", "--all", "-o", "json")
    assert [(e["tag"], e.get("version")) for e in json.loads(p.stdout)] == [
        ("2.0.0", "2.0.0"), ("1.4.2", "1.4.2"), ("1.0.0", "1.0.0"),
        ("1", "1.4.2"), ("1.4", "1.4.2"), ("sha256-" + "a" * 64, None)]


def test_a_version_is_listed_under_whatever_tag_spells_it(helm_oci, registry, tmp_path):
    """Helm pulls a tag that spells the chart's version otherwise (`v1.0.0` for 1.0.0, `3.1`
    for 3.1.0), and so do helm-oci's pull and listings; a version with its own tag beside
    such a spelling is listed once, under its own."""
    seed(registry, "charts/beta", "3.1.0", tag="3.1")
    seed(registry, "charts/beta", "v2.0.0", tag="2.0.0")
    seed(registry, "charts/beta", "1.0.0")
    seed(registry, "charts/beta", "1.0.0", tag="v1.0.0")
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "--versions")
    assert [h["version"] for h in hits] == ["3.1.0", "v2.0.0", "1.0.0"] and stderr == ""
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts")
    assert [h["version"] for h in hits] == ["3.1.0"] and stderr == ""
    for tag in ("v1.0.0", "3.1", "2.0.0"):
        p = helm_oci.run("pull", f"oci://{registry.host}/charts/beta:{tag}", "-d", tmp_path / tag, "--plain-http")
        assert p.stdout.startswith(f"Pulled: {registry.host}/charts/beta:{tag}\n") and p.stderr == ""
    assert "version: 1.0.0" in helm4("show", f"oci://{registry.host}/charts/beta:v1.0.0")
    # Only floating tags over a release: it is listed once. A version's own tag serving
    # another version hides not the tag that serves it; a floating tag over a version not
    # wanted stands for nothing.
    seed(registry, "charts/gamma", "1.2.3", tag="1")
    seed(registry, "charts/gamma", "1.2.3", tag="1.2")
    seed(registry, "charts/gamma", "2.0.0", tag="1.0.0")
    seed(registry, "charts/gamma", "1.0.0", tag="v1.0.0")
    hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "gamma", "--versions")
    assert [h["version"] for h in hits] == ["1.2.3", "1.0.0"]
    assert stderr.startswith(f"WARNING: skipped charts/gamma: {registry.host}/charts/gamma:1.0.0: "), stderr
    hits, _ = search_json(helm_oci, f"{registry.host}/charts", "gamma", "--versions", "--version", "~1.0")
    assert [h["version"] for h in hits] == ["1.0.0"]


def test_a_version_pushed_again_is_shown_as_its_own_tag_holds_it_not_as_a_floating_tag(helm_oci, registry):
    """`2` floated on 2.0.0, and 2.0.0 pushed again since: `2` still reads as 2.0.0, but
    search shows the chart its own tag holds, as pull takes it."""
    seed(registry, "charts/delta", "2.0.0", description="old")
    seed(registry, "charts/delta", "2.0.0", tag="2", description="old")
    seed(registry, "charts/delta", "2.0.0", description="new")
    for flags in ((), ("--versions",)):
        hits, stderr = search_json(helm_oci, f"{registry.host}/charts", "delta", *flags)
        assert [(h["version"], h["description"]) for h in hits] == [("2.0.0", "new")], flags
        assert stderr == ""


def test_tags_all_passes_over_an_unreadable_tag_and_lists_each_tag_once(helm_oci, registry):
    seed(registry, "charts/alpha", "1.0.0")
    seed(registry, "charts/alpha", "1.0.0", tag="stable")
    registry.put_chart("charts/alpha", "latest", b'{"name": "alpha"}', tgz({"alpha/Chart.yaml": b"name: alpha\n"}))

    def twice(method, path, status, headers, body):
        if "/tags/list" in path:
            listed = json.loads(body)
            body = json.dumps({**listed, "tags": listed["tags"] * 2}).encode()
        return status, headers, body

    with Front(registry.host, twice) as front:
        p = helm_oci.run("tags", f"oci://{front.host}/charts/alpha", "--plain-http", "--all", "-o", "json")
    assert [(e["tag"], e.get("version")) for e in json.loads(p.stdout)] == [("1.0.0", "1.0.0"), ("stable", "1.0.0")]
    assert p.stderr.startswith(f"WARNING: skipped tag latest: {front.host}/charts/alpha:latest: ")
    assert len(p.stderr.splitlines()) == 1, p.stderr


def test_a_second_search_reads_the_configs_from_the_chart_cache(helm_oci, seeded):
    """Configs are content-addressed: the first search keeps them in the chart cache, the next
    reads only tags and manifests, and a config corrupted there is fetched again."""
    with Front(seeded.host) as front:
        first, _ = search_json(helm_oci, f"{front.host}/charts", "--versions", "--devel")
        assert any("/blobs/" in path for _, path, _ in front.seen)
        front.seen.clear()
        assert search_json(helm_oci, f"{front.host}/charts", "--versions", "--devel")[0] == first
        assert not any("/blobs/" in path for _, path, _ in front.seen), "every config came from the cache"
        configs = cached_blobs(helm_oci)
        assert configs and all(hashlib.sha256(b.read_bytes()).hexdigest() == b.name for b in configs)
        configs[0].write_bytes(b'{"name": "forged", "version": "9.9.9"}')
        front.seen.clear()
        assert search_json(helm_oci, f"{front.host}/charts", "--versions", "--devel")[0] == first
        fetched = [path for _, path, _ in front.seen if "/blobs/" in path]
        assert len(fetched) == 1 and fetched[0].endswith(f"/blobs/sha256:{configs[0].name}"), fetched
    assert hashlib.sha256(configs[0].read_bytes()).hexdigest() == configs[0].name, "kept again, whole"


def cached_blobs(helm_oci):
    return sorted((Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci" / "blobs" / "sha256").iterdir())


def manifest_requests(front):
    """(method, tag) of each manifest request the front saw."""
    return [(method, path.rsplit("/", 1)[1]) for method, path, _ in front.seen if "/manifests/" in path]


def test_a_second_search_asks_only_whether_each_tag_moved(helm_oci, tmp_path):
    """The first search reads each manifest (a GET, which Docker Hub counts as a pull) and
    remembers it; the next asks with a HEAD whether the tag still names it, and reads only
    a manifest that changed, or whose memory is damaged or names another."""
    reg = Registry(tmp_path / "registry")
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        seed(reg, "charts/alpha", version, description=f"alpha {version}")
    with Front(reg.host) as front:
        first, _ = search_json(helm_oci, f"{front.host}/charts", "--versions")
        assert sorted(manifest_requests(front)) == [("GET", "1.0.0"), ("GET", "1.1.0"), ("GET", "2.0.0")]

        front.seen.clear()
        assert search_json(helm_oci, f"{front.host}/charts", "--versions")[0] == first
        assert sorted(manifest_requests(front)) == [("HEAD", "1.0.0"), ("HEAD", "1.1.0"), ("HEAD", "2.0.0")]

        # 1.1.0 pushed again; 2.0.0's remembered manifest damaged.
        seed(reg, "charts/alpha", "1.1.0", description="alpha 1.1.0, again")
        (memory_file,) = (Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci" / "listed").iterdir()
        memory = json.loads(memory_file.read_text())
        assert memory["name"] == f"{front.host}/charts/alpha"
        memory["tags"]["2.0.0"]["bytes"] = memory["tags"]["2.0.0"]["bytes"].replace("}", " }", 1)
        memory_file.write_text(json.dumps(memory))
        front.seen.clear()
        hits, _ = search_json(helm_oci, f"{front.host}/charts", "--versions")
        assert {h["version"]: h["description"] for h in hits} == {
            "1.0.0": "alpha 1.0.0", "1.1.0": "alpha 1.1.0, again", "2.0.0": "alpha 2.0.0"}
        assert sorted(manifest_requests(front)) == [
            ("GET", "1.1.0"), ("GET", "2.0.0"), ("HEAD", "1.0.0"), ("HEAD", "1.1.0")]

        # Another tag's manifest remembered for 1.0.0 only costs a read.
        memory = json.loads(memory_file.read_text())
        memory["tags"]["1.0.0"] = memory["tags"]["2.0.0"]
        memory_file.write_text(json.dumps(memory))
        front.seen.clear()
        hits, _ = search_json(helm_oci, f"{front.host}/charts", "--versions")
        assert {h["version"]: h["description"] for h in hits}["1.0.0"] == "alpha 1.0.0"
        assert sorted(manifest_requests(front)) == [("GET", "1.0.0"), ("HEAD", "1.0.0"), ("HEAD", "1.1.0"),
                                                    ("HEAD", "2.0.0")]
    reg.stop()
    helm_oci.run("prune")
    assert not memory_file.parent.exists(), "prune forgets what listings remembered"


def test_version_bounds_are_inclusive(helm_oci, seeded):
    for flags in (["--version-from", "1.2.3", "--version-to", "1.4.2"], ["--versionFrom", "1.2.3", "--versionTo", "1.4.2"]):
        hits, _ = search_json(helm_oci, f"{seeded.host}/charts", "alpha", "-l", *flags)
        assert [h["version"] for h in hits] == ["1.4.2", "1.3.0", "1.2.9", "1.2.3", "1.2.3+build.5"], flags
    hits, _ = search_json(helm_oci, f"{seeded.host}/charts", "alpha", "-l", "--version-from", "1.0", "--version-to", "1.2")
    assert [h["version"] for h in hits] == ["1.2.9", "1.2.3", "1.2.3+build.5", "1.2.0", "1.0.0"], \
        "--version-to 1.2 includes 1.2.x"
    hits, _ = search_json(helm_oci, f"{seeded.host}/charts", "alpha", "--version-to", "2.0.0", "--version", "^1")
    assert [h["version"] for h in hits] == ["v1.6.0"], "all bounds hold at once; newest shown"


def paged_tags(method, path, status, headers, body):
    """Pages tag lists at `n` after `last`, as newer registries do (distribution 2.8 answers
    tag lists whole)."""
    url = urlsplit(path)
    query = parse_qs(url.query)
    if not url.path.endswith("/tags/list") or "n" not in query or status != 200:
        return status, headers, body
    listed = sorted(json.loads(body)["tags"])
    after = [t for t in listed if t > query.get("last", [""])[0]]
    n = int(query["n"][0])
    page, more = after[:n], len(after) > n
    headers = [(k, v) for k, v in headers if k.lower() != "link"]
    if more:
        headers.append(("Link", f'<{url.path}?n={n}&last={quote(page[-1])}>; rel="next"'))
    return status, headers, json.dumps({"name": json.loads(body)["name"], "tags": page}).encode()


def test_lists_longer_than_a_page_are_complete(helm_oci, seeded):
    with Front(seeded.host, tamper=paged_tags) as front:
        p = helm_oci.run("tags", f"oci://{front.host}/charts/alpha", "--plain-http", "-o", "json", "--devel",
                         "--page-size", "2")
        assert [e["version"] for e in json.loads(p.stdout)] == ALPHA
        pages = [path for _, path, _ in front.seen if "/tags/list" in path]
        assert len(pages) == len(ALPHA) // 2 and pages[0] == "/v2/charts/alpha/tags/list?n=2", pages
        hits, _ = search_json(helm_oci, f"{front.host}/charts", "alpha", "-l", "--devel", "--page-size", "2")
        assert [h["version"] for h in hits] == ALPHA
    whole, _ = search_json(helm_oci, seeded.host)
    p = helm_oci.run("search", seeded.host, "--plain-http", "-o", "json", "--page-size", "2", "--debug")
    assert json.loads(p.stdout) == whole
    assert p.stderr.count("/v2/_catalog?") == 3, "6 repositories, 2 a page"


def test_fail_fast_stops_at_the_failing_repository(helm_oci, seeded):
    line = helm_oci.fails("search", f"{seeded.host}/charts", "--plain-http", "--fail-fast")
    assert line.startswith(f"Error: {seeded.host}/charts/broken:1.0.0:"), line


def test_named_repositories_skip_the_catalog(helm_oci, seeded):
    refusing = Front(seeded.host, intercept=lambda m, path, h: (
        (404, [("Content-Type", "application/json")], b'{"errors":[{"code":"UNSUPPORTED","message":"no catalog"}]}')
        if path.startswith("/v2/_catalog") else None))
    with refusing:
        line = helm_oci.fails("search", refusing.host, "--plain-http")
        assert "does not list its repositories" in line and "--repository" in line and "helm oci tags" in line
        hits, _ = search_json(helm_oci, f"{refusing.host}/charts", "--repository", "beta", "--repository", "gamma")
        assert [h["name"].split("/", 1)[1] for h in hits] == ["charts/beta", "charts/gamma"]
        assert [p for _, p, _ in refusing.seen if p.startswith("/v2/_catalog")] == ["/v2/_catalog"], \
            "only the refused search asked for the catalog"


def test_a_later_catalog_page_failing_is_not_called_a_refusal(helm_oci, seeded):
    def second_page_gone(method, path, headers):
        if path.startswith("/v2/_catalog?last="):
            return 404, [("Content-Type", "application/json")], b'{"errors":[{"code":"NOT_FOUND","message":"gone"}]}'

    with Front(seeded.host, intercept=second_page_gone) as front:
        line = helm_oci.fails("search", front.host, "--plain-http", "--page-size", "2")
    assert "the catalog of" in line and "does not list its repositories" not in line, line


def test_an_empty_catalog_says_what_to_do(helm_oci, tmp_path):
    reg = Registry(tmp_path / "empty")
    try:
        line = helm_oci.fails("search", reg.host, "--plain-http")
        assert "lists no repositories" in line and "--repository" in line
    finally:
        reg.stop()


def test_search_with_tokens_asks_one_per_repository(helm_oci, seeded, tmp_path):
    """Through a token service: one token for the catalog, then one per repository, each
    for that repository alone; a repository the user may not pull is skipped, not fatal."""
    ts = TokenServer(tmp_path / "ts", users={"alice": "pw"}, deny={"charts/gamma"})
    reg = Registry(tmp_path / "tokened", auth=ts.registry_auth(), data=seeded.root / "data")
    try:
        p = helm_oci.run("search", reg.host, "--plain-http", "-o", "json", "--username", "alice", "--password", "pw")
        assert [h["name"].split("/", 1)[1] for h in json.loads(p.stdout)] == ["charts/alpha", "charts/beta",
                                                                              "other/delta"]
        skipped = p.stderr.splitlines()
        assert [l.split(":")[0] for l in skipped] == ["WARNING", "WARNING"]
        assert "skipped charts/broken" in skipped[0] and "skipped charts/gamma" in skipped[1]
        assert skipped[1].endswith("access denied: the credentials do not allow repository:charts/gamma:pull")
        repositories = ["charts/alpha", "charts/beta", "charts/broken", "charts/gamma", "images/nginx", "other/delta"]
        asked = sorted(tuple(r["scopes"]) for r in ts.requests)
        assert asked == sorted([("registry:catalog:*",)] + [(f"repository:{r}:pull",) for r in repositories])
        assert all(r["user"] == "alice" for r in ts.requests)
        # Anonymous callers may not list the catalog here: said plainly.
        line = helm_oci.fails("search", reg.host, "--plain-http")
        assert "does not list its repositories" in line, line
        # A wrong password is all there is to say: the right one lists it.
        line = helm_oci.fails("search", reg.host, "--plain-http", "--username", "alice", "--password", "wrong")
        assert line == f"Error: the token service {ts.host} rejected the credentials (HTTP 401)"
    finally:
        reg.stop()
        ts.stop()
