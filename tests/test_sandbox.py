"""The component gets only what the command names: the chart directory read-only, the
destination read-write, and the one registry host."""
import json
import os
from pathlib import Path

from conftest import helm4, write_chart
from fronts import Front, Recorder, uploads_sent_to


def test_a_symlink_out_of_the_chart_that_helmignore_names_is_passed_over_as_helm_does(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src")
    (chart / ".helmignore").write_text(".env\n")
    os.symlink("/etc/hostname", chart / ".env")
    os.symlink("/tmp", chart / "templates" / ".cache")  # Helm's own default rule, templates/.?*
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")


def test_symlink_inside_the_chart_is_followed(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src")
    os.symlink("../values.yaml", chart / "templates" / "values-copy.yaml")
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")


def test_an_archive_that_is_a_symlink_is_read_where_it_leads(helm_oci, registry, chart, tmp_path):
    """`dist/app.tgz -> ../build/app-0.1.0.tgz`: push and save read the archive it names,
    with nothing of the link's own directory but what the command needs."""
    built = Path(helm4("package", chart, tmp_path / "build").strip())
    (tmp_path / "dist").mkdir()
    os.symlink(built, tmp_path / "dist" / "app.tgz")
    p = helm_oci.run("push", tmp_path / "dist" / "app.tgz", f"oci://{registry.host}/charts", "--plain-http")
    assert p.stdout.startswith(f"Pushed: {registry.host}/charts/mychart:0.1.0\n")
    assert registry.blob("charts/mychart", json.loads(registry.manifest("charts/mychart", "0.1.0"))["layers"][0]
                         ["digest"]) == built.read_bytes()
    helm_oci.run("save", tmp_path / "dist" / "app.tgz", f"{registry.host}/linked")
    assert f"{registry.host}/linked/mychart:0.1.0" in helm_oci.run("list").stdout


def test_requests_to_other_hosts_are_refused(helm_oci, registry, chart):
    """A hostile registry hands out an upload location on another host; nothing reaches it."""
    elsewhere = Recorder()
    with Front(registry.host, uploads_sent_to(elsewhere.host)) as front, elsewhere:
        line = helm_oci.fails("push", chart, f"oci://{front.host}/charts", "--plain-http")
        assert f"request to {elsewhere.host} was refused by the sandbox" in line
        assert elsewhere.seen == []


def test_plain_http_only_when_asked(helm_oci, registry, chart):
    """Without --plain-http the host refuses http:// even if the component asked for it."""
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts")
    assert "TLS" in line
