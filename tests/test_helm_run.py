"""`helm oci install|upgrade|template`: the chart is pulled through the cache into a temp
directory and handed to $HELM_BIN, here a stand-in that records how it was called, loads the
chart it got with the real Helm 4.3 library, and answers like Helm 2, 3 or 4."""
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BIN, HELM4, Registry, helm4, write_chart
from fronts import Front
from test_mirrors import configure, copy

# The stand-in Helm. Each call appends {"argv", "env", "chart", "shown"} to $FAKE_HELM_LOG;
# `chart` is the chart argument where the Helm of $FAKE_HELM_MAJOR looks for it, `shown`
# what the real Helm library printed on loading it. It exits with $FAKE_HELM_EXIT.
FAKE_HELM = r'''#!{python}
import json, os, subprocess, sys, time
argv = sys.argv[1:]
major = os.environ.get("FAKE_HELM_MAJOR", "3")
log = os.environ["FAKE_HELM_LOG"]
entry = {{"argv": argv, "env": {{k: v for k, v in os.environ.items() if k.startswith(("HELM_", "TILLER_"))}}}}
if argv[:1] == ["version"]:
    with open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")
    time.sleep(float(os.environ.get("FAKE_HELM_VERSION_SLEEP", "0")))
    with open(log, "a") as f:
        f.write(json.dumps({{"argv": ["version-answered"]}}) + "\n")
    if major == "4" and "--client" in argv:
        print('Error: unknown flag: --client', file=sys.stderr)
        sys.exit(1)
    print({{"2": "Client: v2.17.0+ga690bad", "3": "v3.14.0+g3fc9f4b"}}.get(major, "v4.3.0+g1a2b3c4"))
    sys.exit(0)
# Positionals as Helm's flag parser finds them (the value flags these tests use).
values = {{"-n", "--namespace", "-f", "--values", "--set", "--name", "--timeout", "-o", "--keyring", "--burst-limit",
          "-v", "--log-file"}}
positionals, i = [], 1
while i < len(argv):
    a = argv[i]
    if a in values:
        i += 2
        continue
    if not a.startswith("-"):
        positionals.append(a)
    i += 1
verb = argv[0]
if major == "2" and verb in ("install", "template"):
    chart = positionals[0]
else:
    chart = positionals[-1]
entry["chart"] = chart
entry["exists"] = os.path.isfile(chart)
prov = chart + ".prov"
entry["prov"] = open(prov).read() if os.path.isfile(prov) else None
show = subprocess.run([sys.executable, {helm4!r}, "show", chart], capture_output=True, text=True,
                      env={{**os.environ, "LIBHELM": {libhelm!r}}})
entry["shown"] = show.stdout if show.returncode == 0 else "FAILED: " + show.stderr
with open(log, "a") as f:
    f.write(json.dumps(entry) + "\n")
if verb == "template":
    sys.stdout.write("---\n# Source: mychart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\n")
else:
    print(f"stand-in ran {{verb}}")
print("stand-in says hello on stderr", file=sys.stderr)
time.sleep(float(os.environ.get("FAKE_HELM_SLEEP", "0")))
sys.exit(int(os.environ.get("FAKE_HELM_EXIT", "0")))
'''


@pytest.fixture(scope="module")
def libhelm():
    return subprocess.run([str(HELM4.parent / "fetch.sh")], capture_output=True, text=True, check=True).stdout.strip()


class FakeHelm:
    def __init__(self, root: Path, libhelm: str):
        root.mkdir(parents=True, exist_ok=True)
        self.bin = root / "helm"
        self.bin.write_text(FAKE_HELM.format(python=sys.executable, helm4=str(HELM4), libhelm=libhelm))
        self.bin.chmod(0o755)
        self.log = root / "calls.jsonl"
        self.tmp = root / "tmp"
        self.tmp.mkdir()

    def env(self, major="3", **extra):
        """The environment of a run: this stand-in as $HELM_BIN, answering as Helm `major`,
        and a temp directory of the test's own."""
        return {"HELM_BIN": str(self.bin), "FAKE_HELM_MAJOR": major, "FAKE_HELM_LOG": str(self.log),
                "TMPDIR": str(self.tmp), **extra}

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def chart_calls(self):
        """The calls that ran a command on a chart (not the version query)."""
        return [c for c in self.calls() if not c["argv"][0].startswith("version")]

    def only_chart_call(self):
        calls = self.chart_calls()
        assert len(calls) == 1, calls
        return calls[0]


@pytest.fixture
def helm(tmp_path, libhelm):
    return FakeHelm(tmp_path / "fake-helm", libhelm)


@pytest.fixture
def pushed(helm_oci, registry, chart):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    return f"oci://{registry.host}/charts/mychart"


PASSED_ON = ["-n", "ns", "--set", "a=b", "-f", "values.yaml", "--wait"]


def assert_ran_on_the_chart(call, name="mychart", version="0.1.0"):
    """Helm got the pulled archive, a file that existed then, and the real Helm loaded it;
    it is gone now, with the directory it was in."""
    chart = Path(call["chart"])
    assert chart.name == f"{name}-{version}.tgz" and chart.parent.name.startswith("helm-oci-")
    assert call["exists"]
    assert f"name: {name}\n" in call["shown"] and f"version: {version}\n" in call["shown"], call["shown"]
    assert not chart.parent.exists()


@pytest.mark.parametrize("major", ["3", "4"])
@pytest.mark.parametrize("verb", ["install", "upgrade", "template"])
def test_helm_3_and_4_get_release_then_chart_then_their_flags(helm_oci, helm, pushed, verb, major):
    p = helm_oci.run(verb, "rel", pushed, "--version", "0.1.0", *PASSED_ON[:4], "--plain-http", *PASSED_ON[4:],
                     env=helm.env(major))
    call = helm.only_chart_call()
    assert call["argv"] == [verb, "rel", call["chart"], *PASSED_ON]
    assert_ran_on_the_chart(call)
    # Helm was asked which Helm it is, the way each answers.
    assert [c["argv"] for c in helm.calls() if c["argv"][0] == "version"] == [["version", "--client", "--short"]]
    # Helm's output is the command's, with nothing of helm-oci's.
    assert p.stderr == "stand-in says hello on stderr\n"
    assert "Pulled" not in p.stdout
    assert helm.tmp.exists() and list(helm.tmp.iterdir()) == []


@pytest.mark.parametrize("verb, expected", [
    ("install", lambda chart: ["install", chart, "--name", "rel", *PASSED_ON]),
    ("upgrade", lambda chart: ["upgrade", "rel", chart, *PASSED_ON]),
    ("template", lambda chart: ["template", chart, "--name", "rel", *PASSED_ON]),
])
def test_helm_2_gets_its_own_syntax(helm_oci, helm, pushed, verb, expected):
    helm_oci.run(verb, "rel", pushed, "--plain-http", *PASSED_ON, env=helm.env("2"))
    call = helm.only_chart_call()
    assert call["argv"] == expected(call["chart"])
    assert_ran_on_the_chart(call)


def test_helm_2_is_known_by_its_plugin_environment_without_asking(helm_oci, helm, pushed):
    # Helm 2 sets HELM_PATH_STARTER for its plugins; the stand-in would answer as Helm 3.
    env = helm.env("3", HELM_PATH_STARTER="/home/u/.helm/starters", HELM_HOME=str(helm_oci.home / ".helm"))
    helm_oci.run("install", "rel", pushed, "--plain-http", env=env)
    assert [c["argv"][0] for c in helm.calls()] == ["install"]
    call = helm.only_chart_call()
    assert call["argv"] == ["install", call["chart"], "--name", "rel"]
    assert call["env"]["HELM_PATH_STARTER"] == "/home/u/.helm/starters"
    helm.log.unlink()
    env = helm.env("3", HELM_PATH_REPOSITORY_FILE="/home/u/.helm/repository/repositories.yaml")
    helm_oci.run("template", "rel", pushed, "--plain-http", env=env)
    assert [c["argv"][0] for c in helm.calls()] == ["template"]
    assert helm.only_chart_call()["argv"][2:] == ["--name", "rel"]


def test_helm_2_gets_back_the_tiller_host_it_kept_from_the_plugin(helm_oci, helm, pushed):
    """`helm --host H oci install …` under Helm 2: Helm 2 takes --host off the plugin's
    command line and sets TILLER_HOST, which the Helm 2 run by helm-oci does not read. A
    TILLER_HOST merely exported, with no Helm 2 running the plugin, is left alone."""
    helm_2 = {"HELM_PATH_STARTER": "/home/u/.helm/starters", "TILLER_HOST": "10.0.0.9:44134"}
    helm_oci.run("install", "rel", pushed, "--plain-http", env=helm.env("2", **helm_2))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", call["chart"], "--name", "rel", "--host", "10.0.0.9:44134"]
    helm.log.unlink()
    helm_oci.run("install", "rel", pushed, "--plain-http", env=helm.env("2", TILLER_HOST="10.0.0.9:44134"))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", call["chart"], "--name", "rel"]


@pytest.mark.parametrize("major, flags", [("3", ["--generate-name", "--namespace", "ns"]), ("2", ["--namespace", "ns"])])
def test_install_without_a_release(helm_oci, helm, pushed, major, flags):
    helm_oci.run("install", pushed, "--plain-http", *flags, env=helm.env(major))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", call["chart"], *flags]
    assert_ran_on_the_chart(call)


def test_template_without_a_release_and_its_output_unchanged(helm_oci, helm, pushed):
    p = helm_oci.run("template", pushed, "--plain-http", env=helm.env("4"))
    call = helm.only_chart_call()
    assert call["argv"] == ["template", call["chart"]]
    assert p.stdout == "---\n# Source: mychart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\n"
    assert p.stderr == "stand-in says hello on stderr\n"


def test_install_reads_the_chart_from_a_mirror(helm_oci, helm, registry, pushed, tmp_path):
    """The registries configuration's mirrors serve install as they serve pull: the
    registry (behind a recording Front) is not asked."""
    mirror = Registry(tmp_path / "mirror")
    try:
        with Front(registry.host) as front:
            copy(registry, "charts/mychart", mirror, "charts/mychart", "0.1.0")
            configure(helm_oci, front.host, (mirror.host, True))
            helm_oci.run("install", "rel", f"oci://{front.host}/charts/mychart", "--version", "0.1.0", "--plain-http",
                         env=helm.env("4"))
        assert front.seen == []
        assert_ran_on_the_chart(helm.only_chart_call())
    finally:
        mirror.stop()


def test_helms_exit_code_is_passed_through_and_the_chart_removed(helm_oci, helm, pushed):
    p = helm_oci.run("upgrade", "rel", pushed, "--plain-http", "--install", check=False,
                     env=helm.env("3", FAKE_HELM_EXIT="3"))
    assert p.returncode == 3
    # Helm has said why; helm-oci adds no Error line.
    assert p.stderr == "stand-in says hello on stderr\n"
    assert p.stdout == "stand-in ran upgrade\n"
    call = helm.only_chart_call()
    assert call["argv"] == ["upgrade", "rel", call["chart"], "--install"]
    assert_ran_on_the_chart(call)
    assert list(helm.tmp.iterdir()) == []


def test_a_killed_runs_temp_directory_goes_once_an_hour_old(helm_oci, helm, pushed):
    """SIGKILL leaves no chance to clean up: a later run removes what such a run left, once
    it is an hour old and no run holds its lock; a younger one, one whose run still holds
    it (a download of more than an hour), and other names stay."""
    stale, young, held, other = (helm.tmp / name for name in (
        "helm-oci-4242-18eaef9c9b3e9cf3-0", "helm-oci-4243-18eaef9c9b3e9cf4-0", "helm-oci-4244-18eaef9c9b3e9cf5-0",
        "helm-oci-notes"))
    for directory in (stale, young, held, other):
        directory.mkdir()
        (directory / "mychart-0.1.0.tgz").write_bytes(b"left")
        (directory / ".held").touch()
    two_hours_ago = time.time() - 7200
    for directory in (stale, held, other):
        os.utime(directory, (two_hours_ago, two_hours_ago))
    with open(held / ".held") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        helm_oci.run("template", "rel", pushed, "--plain-http", env=helm.env("3"))
    assert sorted(p.name for p in helm.tmp.iterdir()) == sorted([other.name, young.name, held.name])


def test_a_reference_that_does_not_exist_never_reaches_helm(helm_oci, helm, registry, pushed):
    line = helm_oci.fails("install", "rel", f"oci://{registry.host}/charts/nothing", "--plain-http",
                          env=helm.env("3"))
    assert "not found" in line.lower(), line
    line = helm_oci.fails("install", "rel", pushed, "--version", "9.9.9", "--plain-http", env=helm.env("3"))
    assert "9.9.9" in line, line
    assert helm.chart_calls() == []
    assert list(helm.tmp.iterdir()) == []


def test_offline_uses_the_cache_with_the_registry_gone(helm_oci, helm, registry, pushed):
    helm_oci.run("template", "rel", pushed, "--version", "0.1.0", "--plain-http", env=helm.env("3"))
    registry.stop()
    helm.log.unlink()
    p = helm_oci.run("template", "rel", pushed, "--version", "0.1.0", "--offline", "-n", "ns", env=helm.env("3"))
    call = helm.only_chart_call()
    assert call["argv"] == ["template", "rel", call["chart"], "-n", "ns"]
    assert_ran_on_the_chart(call)
    assert p.stdout.startswith("---\n")
    # Without --offline the registry is needed, and its absence is an error before Helm.
    helm.log.unlink()
    helm_oci.fails("template", "rel", pushed, "--version", "0.1.0", "--plain-http", env=helm.env("3"))
    assert helm.chart_calls() == []


def test_version_constraint_picks_the_newest_it_admits(helm_oci, helm, registry, tmp_path):
    for version in ["0.1.0", "0.1.5", "0.2.0", "0.1.7-rc.1"]:
        chart = write_chart(tmp_path / f"src-{version}", version=version)
        helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    ref = f"oci://{registry.host}/charts/mychart"
    helm_oci.run("template", "rel", ref, "--version", "^0.1", "--plain-http", env=helm.env("3"))
    assert_ran_on_the_chart(helm.only_chart_call(), version="0.1.5")
    helm.log.unlink()
    helm_oci.run("template", "rel", ref, "--version=^0.1", "--devel", "--plain-http", env=helm.env("3"))
    assert_ran_on_the_chart(helm.only_chart_call(), version="0.1.7-rc.1")
    helm.log.unlink()
    helm_oci.run("install", "rel", ref, "--plain-http", env=helm.env("3"))
    assert_ran_on_the_chart(helm.only_chart_call(), version="0.2.0")


def test_helms_global_flags_before_the_command_reach_helm(helm_oci, helm, pushed):
    """`helm --burst-limit 100 oci install …`: Helm hands the plugin the global flags its
    loader does not read itself as they were written, before the command. They go to Helm
    after the verb; another command, which has no use for them, runs without them."""
    helm_oci.run("--burst-limit", "100", "--color=never", "install", "rel", pushed, "--plain-http", env=helm.env("4"))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", "rel", call["chart"], "--burst-limit", "100", "--color=never"]
    p = helm_oci.run("--qps", "50", "tags", pushed, "--plain-http")
    assert p.stdout.splitlines()[-1].split() == ["0.1.0"]
    # klog's hidden flags, which Helm 3 and 4 keep as global flags, and their values.
    helm.log.unlink()
    helm_oci.run("-v", "6", "--logtostderr", "template", "-v", "2", "--log-file", "h.log", pushed, "--plain-http",
                 env=helm.env("4"))
    call = helm.only_chart_call()
    assert call["argv"] == ["template", call["chart"], "-v", "6", "--logtostderr", "-v", "2", "--log-file", "h.log"]


def test_timeout_and_debug_go_to_helm_and_debug_is_ours_too(helm_oci, helm, pushed):
    p = helm_oci.run("install", "rel", pushed, "--timeout", "10m", "--plain-http", "--debug", env=helm.env("3"))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", "rel", call["chart"], "--timeout", "10m", "--debug"]
    assert "[debug]" in p.stderr
    # Given right after the command, it still reaches Helm.
    helm.log.unlink()
    helm_oci.run("install", "--debug", "rel", pushed, "--plain-http", env=helm.env("3"))
    assert helm.only_chart_call()["argv"][3:] == ["--debug"]
    # So does a `--debug=false` there, which turns off a HELM_DEBUG=true, Helm's and ours.
    helm.log.unlink()
    p = helm_oci.run("install", "--debug=false", "rel", pushed, "--plain-http", env=helm.env("3", HELM_DEBUG="true"))
    assert helm.only_chart_call()["argv"][3:] == ["--debug=false"]
    assert "[debug]" not in p.stderr
    helm.log.unlink()
    p = helm_oci.run("install", "rel", pushed, "--plain-http", env=helm.env("3", HELM_DEBUG="true"))
    assert "[debug]" in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_reaches_helm_and_the_chart_is_removed(helm_oci, helm, pushed, sig):
    """SIGHUP too: a terminal or an SSH session that closes leaves nothing behind."""
    env = {**helm_oci.env, **helm.env("3", FAKE_HELM_SLEEP="30")}
    p = subprocess.Popen([str(BIN), "install", "rel", pushed, "--plain-http"], env=env, cwd=helm_oci.home,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not helm.chart_calls():
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 128 + sig, err
    assert "Error" not in err
    assert not Path(helm.only_chart_call()["chart"]).exists()
    assert list(helm.tmp.iterdir()) == []


def test_under_nohup_a_hangup_stops_neither_the_run_nor_helm(helm_oci, helm, pushed):
    """Started with SIGHUP ignored (`nohup`), helm-oci leaves it ignored, for Helm too."""
    env = {**helm_oci.env, **helm.env("3", FAKE_HELM_SLEEP="1.5")}
    p = subprocess.Popen([str(BIN), "install", "rel", pushed, "--plain-http"], env=env, cwd=helm_oci.home,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.time() + 60
    while not helm.chart_calls():
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGHUP)
    out, err = p.communicate(timeout=20)
    assert (p.returncode, out) == (0, "stand-in ran install\n"), err
    assert list(helm.tmp.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_before_helm_starts_stops_the_run(helm_oci, helm, pushed, sig):
    # Helm takes 3 s to say which Helm it is: the chart is pulled meanwhile, and the signal
    # comes after the pull, while helm-oci waits for that answer.
    env = {**helm_oci.env, **helm.env("3", FAKE_HELM_VERSION_SLEEP="3")}
    p = subprocess.Popen([str(BIN), "install", "rel", pushed, "--plain-http"], env=env, cwd=helm_oci.home,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (list(helm.tmp.glob("helm-oci-*/mychart-0.1.0.tgz")) and helm.calls()):
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.02)
    # The pull is done and Helm has not answered yet.
    assert [c["argv"] for c in helm.calls()] == [["version", "--client", "--short"]]
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 128 + sig, err
    assert err == f"Error: interrupted by {signal.Signals(sig).name}\n"
    assert out == ""
    assert list(helm.tmp.iterdir()) == []
    # Helm never ran on the chart, nor does it later; the version query was stopped too.
    time.sleep(3.5)
    assert [c["argv"] for c in helm.calls()] == [["version", "--client", "--short"]]


def test_verify_finds_the_provenance_file_beside_the_archive(helm_oci, helm, registry, chart, tmp_path):
    """Helm's --verify checks a local archive against the `.prov` beside it: the chart's
    provenance layer is put there, as pushed; a chart without one never reaches Helm."""
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: mychart\n"
    Path(packaged + ".prov").write_text(signed)
    pushed = helm_oci.run("push", packaged, f"oci://{registry.host}/signed", "--plain-http")
    ref = f"oci://{registry.host}/signed/mychart"
    helm_oci.run("install", "rel", ref, "--plain-http", "--verify", "--keyring", "k.gpg", env=helm.env("3"))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", "rel", call["chart"], "--verify", "--keyring", "k.gpg"]
    assert call["prov"] == signed
    assert_ran_on_the_chart(call)
    # By digest too, Helm is handed the archive under the name it was signed as, which
    # --verify looks up in the provenance file (a pull by digest names it otherwise).
    digest = pushed.stdout.split("Digest: ")[1].strip()
    helm_oci.run("upgrade", "rel", f"{ref}@{digest}", "--plain-http", "--verify", env=helm.env("3"))
    call = helm.chart_calls()[-1]
    assert Path(call["chart"]).name == "mychart-0.1.0.tgz" and call["prov"] == signed
    # Without --verify Helm looks for none, and none is written.
    helm_oci.run("template", "rel", ref, "--plain-http", env=helm.env("3"))
    assert helm.chart_calls()[-1]["prov"] is None

    helm_oci.run("push", chart, f"oci://{registry.host}/unsigned", "--plain-http")
    line = helm_oci.fails("upgrade", "rel", f"oci://{registry.host}/unsigned/mychart", "--plain-http", "--verify",
                          env=helm.env("3"))
    assert line == f"Error: {registry.host}/unsigned/mychart:0.1.0 has no provenance file, which --verify needs"
    assert len(helm.chart_calls()) == 3
    assert list(helm.tmp.iterdir()) == []


def test_without_helm_or_with_bad_flags_one_error_line(helm_oci, helm, pushed):
    env = {**helm.env("3"), "HELM_BIN": str(helm.tmp / "no-helm-here")}
    line = helm_oci.fails("install", "rel", pushed, "--plain-http", env=env)
    assert line.startswith("Error: cannot run Helm (") and "no-helm-here" in line, line
    line = helm_oci.fails("upgrade", pushed, "--plain-http", env=helm.env("3"))
    assert line == "Error: a release name and a chart reference are required: helm oci upgrade RELEASE REF [flags]"
    line = helm_oci.fails("install", "rel", pushed, "--max-chart-size", "lots", env=helm.env("3"))
    assert "--max-chart-size" in line, line
    assert helm.chart_calls() == []
    assert list(helm.tmp.iterdir()) == []


@pytest.mark.parametrize("verb", ["install", "upgrade", "template"])
def test_help_names_our_flags_and_where_the_rest_go(helm_oci, helm, verb):
    p = helm_oci.run(verb, "--help", env=helm.env("3"))
    assert f"Usage: helm oci {verb} " in p.stdout
    assert "--offline" in p.stdout and "--plain-http" in p.stdout and f"helm {verb} --help" in p.stdout
    assert helm.calls() == []


@pytest.mark.parametrize("layout", ["helm 3.0-3.6", "early two-layer"])
def test_charts_in_legacy_layouts_are_installed(helm_oci, helm, registry, layout):
    from conftest import tgz
    from test_cache_trouble import OLD_FILES, push_alpha
    if layout == "early two-layer":
        push_alpha(registry)
        ref, name, version = f"oci://{registry.host}/alpha/legacy:1.2.3", "legacy", "1.2.3"
    else:
        config = json.dumps({"apiVersion": "v2", "name": "old", "version": "0.3.0"}).encode()
        registry.put_chart("legacy/old", "0.3.0", config, tgz(OLD_FILES), layer_type="application/tar+gzip")
        ref, name, version = f"oci://{registry.host}/legacy/old:0.3.0", "old", "0.3.0"
    helm_oci.run("install", "rel", ref, "--plain-http", env=helm.env("3"))
    call = helm.only_chart_call()
    assert call["argv"] == ["install", "rel", call["chart"]]
    assert_ran_on_the_chart(call, name, version)
