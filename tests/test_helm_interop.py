"""Interop with the real Helm 4.3 library: what Helm pushes we pull, what we push Helm reads,
and both lay the chart out the same way."""
import io
import json
import tarfile

from conftest import helm4, sha256, write_chart


def annotations_without_created(manifest):
    return {k: v for k, v in manifest.get("annotations", {}).items() if k != "org.opencontainers.image.created"}


def test_helm_pushes_and_we_pull_the_identical_archive(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src", home="https://example.com", sources=["https://src.example.com"],
                        maintainers=[{"name": "Ann", "email": "ann@example.com"}])
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    helm4("push", packaged, f"oci://{registry.host}/helm")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/helm/mychart", "--version", "0.1.0", "-d", out, "--plain-http")
    assert (out / "mychart-0.1.0.tgz").read_bytes() == open(packaged, "rb").read()


def test_we_push_and_helm_reads(helm_oci, registry, chart):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    shown = helm4("show", f"oci://{registry.host}/charts/mychart:0.1.0")
    assert "name: mychart" in shown and "version: 0.1.0" in shown and "description: A test chart" in shown


def test_manifest_and_config_match_helms(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src", version="1.2.3+meta", home="https://example.com",
                        sources=["https://a.example.com", "https://b.example.com"],
                        maintainers=[{"name": "Ann", "email": "ann@example.com"}, {"name": "Bob"}],
                        annotations={"team": "platform", "org.opencontainers.image.title": "not-this"})
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    helm4("push", packaged, f"oci://{registry.host}/helm")
    helm_oci.run("push", chart, f"oci://{registry.host}/ours", "--plain-http")

    theirs = json.loads(registry.manifest("helm/mychart", "1.2.3_meta"))
    ours = json.loads(registry.manifest("ours/mychart", "1.2.3_meta"))  # same tag rule
    assert ours.keys() == theirs.keys()
    assert ours.get("mediaType") == theirs.get("mediaType") is None
    assert ours["config"] == theirs["config"]  # same media type, and the same config bytes
    assert [l["mediaType"] for l in ours["layers"]] == [l["mediaType"] for l in theirs["layers"]]
    assert annotations_without_created(ours) == annotations_without_created(theirs)
    assert annotations_without_created(ours)["org.opencontainers.image.title"] == "mychart"
    assert registry.blob("ours/mychart", ours["config"]["digest"]) == registry.blob("helm/mychart", theirs["config"]["digest"])


def test_an_archive_with_paths_twice_and_two_top_directories_reads_as_helm_reads_it(helm_oci, registry, tmp_path):
    """Helm's loader drops each entry's first path component and reads every Chart.yaml in
    turn (a later one wins field by field); its untar writes each path, the later entry's
    bytes last."""
    entries = [
        ("mychart/Chart.yaml", b"apiVersion: v2\nname: mychart\nversion: 1.0.0\ndescription: first\n"
                               b"annotations:\n  a: one\n"),
        ("mychart/values.yaml", b"a: 1\n"),
        ("other/Chart.yaml", b"name: mychart\nversion: 1.0.1\nannotations:\n  b: two\n"),
        ("other/templates/cm.yaml", b"kind: ConfigMap\n"),
        ("mychart/./values.yaml", b"b: 2\n"),
    ]
    archive = tmp_path / "odd.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    seen = helm4("show", archive)
    assert "version: 1.0.1" in seen and "description: first" in seen and "a: one" in seen and "b: two" in seen

    helm4("push", str(archive), f"oci://{registry.host}/helm")
    pushed = helm_oci.run("push", archive, f"oci://{registry.host}/ours", "--plain-http").stdout
    assert f"Pushed: {registry.host}/ours/mychart:1.0.1" in pushed
    theirs = json.loads(registry.manifest("helm/mychart", "1.0.1"))
    ours = json.loads(registry.manifest("ours/mychart", "1.0.1"))
    assert registry.blob("ours/mychart", ours["config"]["digest"]) == registry.blob("helm/mychart", theirs["config"]["digest"])

    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/helm/mychart", "--version", "1.0.1", "-d", out, "--untar",
                 "--plain-http")
    unpacked = out / "mychart"
    assert sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()) == \
        ["Chart.yaml", "templates/cm.yaml", "values.yaml"]
    assert (unpacked / "Chart.yaml").read_bytes() == entries[2][1]
    assert (unpacked / "values.yaml").read_bytes() == b"b: 2\n"


def test_a_pushed_tgz_with_provenance_carries_it(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src")
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    prov = b"-----BEGIN PGP SIGNED MESSAGE-----\nfake provenance\n"
    open(packaged + ".prov", "wb").write(prov)
    helm_oci.run("push", packaged, f"oci://{registry.host}/charts", "--plain-http")
    manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
    types = {l["mediaType"]: l for l in manifest["layers"]}
    assert types["application/vnd.cncf.helm.chart.provenance.v1.prov"]["digest"] == sha256(prov)
    assert [l["digest"] for l in manifest["layers"]] == sorted(l["digest"] for l in manifest["layers"])
    helm4("show", f"oci://{registry.host}/charts/mychart:0.1.0")


def test_numbers_in_import_values_are_written_as_helm_writes_them(helm_oci, registry, tmp_path):
    """Helm reads import-values through JSON as Go floats: `1.0` and `1e3` go into the
    config as `1` and `1000`, and an integer past 2^53 loses its last digits."""
    chart = write_chart(tmp_path / "src")
    write_chart(chart / "charts", name="db")
    with open(chart / "Chart.yaml", "a") as f:
        f.write("dependencies:\n- name: db\n  version: 0.1.0\n  import-values:\n"
                "  - {child: a, parent: b, w: 1.0, x: 1e3, big: 9007199254740993, z: [0.25, -2.0]}\n")
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    helm4("push", packaged, f"oci://{registry.host}/helm")
    helm_oci.run("push", chart, f"oci://{registry.host}/ours", "--plain-http")
    theirs = json.loads(registry.manifest("helm/mychart", "0.1.0"))["config"]
    ours = json.loads(registry.manifest("ours/mychart", "0.1.0"))["config"]
    config = registry.blob("ours/mychart", ours["digest"])
    assert b'"w":1,' in config and b'"x":1000,' in config and b'"big":9007199254740992,' in config, config
    assert ours == theirs


def test_a_chart_yaml_in_utf16_is_read_as_helm_reads_it(helm_oci, registry, tmp_path):
    """go-yaml reads UTF-16 that begins with its byte-order mark (PowerShell 5.1 writes
    files so): Helm packages and loads such a chart, and so do we, both ways."""
    chart = write_chart(tmp_path / "src")
    text = "\ufeffapiVersion: v2\r\nname: mychart\r\nversion: 0.1.0\r\ndescription: Café\r\n"
    (chart / "Chart.yaml").write_bytes(text.encode("utf-16-le"))
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    helm4("push", packaged, f"oci://{registry.host}/helm")
    helm_oci.run("push", chart, f"oci://{registry.host}/ours", "--plain-http")
    theirs = json.loads(registry.manifest("helm/mychart", "0.1.0"))
    ours = json.loads(registry.manifest("ours/mychart", "0.1.0"))
    assert ours["config"] == theirs["config"]
    assert "description: Café" in helm4("show", f"oci://{registry.host}/ours/mychart:0.1.0")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/helm/mychart:0.1.0", "-d", out, "--untar", "--plain-http")
    assert (out / "mychart" / "Chart.yaml").exists()
    helm_oci.run("push", packaged, f"oci://{registry.host}/tgz", "--plain-http")
