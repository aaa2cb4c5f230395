"""The forge-render command line: crossplane render's arguments, output and errors."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
import yaml
from crossplane.function import response

from forge.render import cli
from forge.render.runtime import COMMAND_ENV
from tests.test_render_pipeline import (
    FAKE_FORGE_MAIN,
    XR,
    Farm,
    _alive,
    compose,
    composition,
    config_map,
    farm,  # noqa: F401 - the fixture
)

ROOT = Path(__file__).resolve().parent.parent


def write_stream(path: Path, *docs: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """Composes a ConfigMap per required EnvironmentConfig and echoes connection details."""
    rsp = response.to(req)
    rsp.requirements.resources["envs"].api_version = "apiextensions.crossplane.io/v1beta1"
    rsp.requirements.resources["envs"].kind = "EnvironmentConfig"
    for item in req.required_resources["envs"].items:
        name = item.resource["metadata"]["name"]
        compose(rsp, f"env-{name}", config_map(f"env-{name}"))
    details = {k: v.decode() for k, v in req.observed.resources["db"].connection_details.items()}
    compose(rsp, "details", config_map("", **details), ready=False)
    response.normal(rsp, "composed")
    return rsp


@pytest.fixture
def inputs(tmp_path: Path, farm: Farm) -> dict[str, str]:  # noqa: F811 - pytest fixture injection
    _, fn = farm.start("function-test", handler)
    _, fail = farm.start("function-fail", lambda req: _fatal(req, "spec.size: too big"))
    obs = tmp_path / "observed"
    obs.mkdir()
    write_stream(
        obs / "db.yaml",
        {
            "apiVersion": "rds.aws.m.upbound.io/v1beta1",
            "kind": "Instance",
            "metadata": {
                "name": "demo-db",
                "namespace": "team-a",
                "annotations": {"crossplane.io/composition-resource-name": "db"},
            },
            "spec": {"writeConnectionSecretToRef": {"name": "db-conn"}},
        },
    )
    (obs / "notes.txt").write_text("not yaml, ignored")
    write_stream(
        obs / "secret.yml",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-conn", "namespace": "team-a"},
            "data": {"password": base64.b64encode(b"hunter2").decode()},
        },
    )
    env = {"apiVersion": "apiextensions.crossplane.io/v1beta1", "kind": "EnvironmentConfig"}
    return {
        "xr": write_stream(tmp_path / "xr.yaml", XR),
        "comp": write_stream(tmp_path / "comp.yaml", composition(("compose", "function-test"))),
        "fail_comp": write_stream(
            tmp_path / "fail.yaml",
            composition(("compose", "function-test"), ("check", "function-fail")),
        ),
        "functions": write_stream(tmp_path / "functions.yaml", fn, fail),
        "observed": str(obs),
        "required": write_stream(tmp_path / "required.yaml", {**env, "metadata": {"name": "b"}}),
        "extra": write_stream(tmp_path / "extra.yaml", {**env, "metadata": {"name": "a"}}),
    }


def _fatal(req: fnv1.RunFunctionRequest, message: str) -> fnv1.RunFunctionResponse:
    rsp = response.to(req)
    response.fatal(rsp, message)
    return rsp


def test_render_prints_the_stream(
    inputs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [inputs["xr"], inputs["comp"], inputs["functions"], "-o", inputs["observed"]]
    argv += ["-e", inputs["required"], "--extra-resources", inputs["extra"], "-r", "-c", "-x"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    docs = list(yaml.safe_load_all(out))
    assert out.startswith("---\n")
    assert [d["kind"] for d in docs] == [
        "XThing",
        "ConfigMap",
        "ConfigMap",
        "ConfigMap",
        "Result",
        "Context",
    ]
    names = [
        d["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for d in docs[1:4]
    ]
    assert names == ["details", "env-a", "env-b"]
    assert docs[0]["spec"] == XR["spec"]  # -x
    assert docs[1]["data"] == {"password": "hunter2"}  # connection details from the observed Secret
    assert docs[0]["status"]["conditions"][0]["message"] == "Unready resources: details"
    assert docs[4] == {
        "apiVersion": "render.crossplane.io/v1beta1",
        "kind": "Result",
        "message": "composed",
        "severity": "SEVERITY_NORMAL",
        "step": "compose",
    }
    assert docs[5] == {
        "apiVersion": "render.crossplane.io/v1beta1",
        "kind": "Context",
        "fields": {},
    }


def test_default_output_has_only_the_xr_identity_and_status(
    inputs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main([inputs["xr"], inputs["comp"], inputs["functions"], "-o", inputs["observed"]]) == 0
    )
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert set(docs[0]) == {"apiVersion", "kind", "metadata", "status"}
    assert docs[0]["metadata"] == {"name": "demo"}
    assert [d["kind"] for d in docs] == ["XThing", "ConfigMap"]


def test_fatal_result_exits_non_zero_with_the_message(
    inputs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main([inputs["xr"], inputs["fail_comp"], inputs["functions"], "-o", inputs["observed"]])
        == 1
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "forge-render: error: cannot render composite resource: "
        'pipeline step "check" returned a fatal result: spec.size: too big\n'
    )


def test_context_values_and_files(inputs: dict[str, str], tmp_path: Path, capsys) -> None:
    (tmp_path / "ctx.yaml").write_text("region: eu-west-1\n")
    argv = [inputs["xr"], inputs["comp"], inputs["functions"], "-o", inputs["observed"], "-c"]
    argv += [
        "--context-files",
        f"env={tmp_path / 'ctx.yaml'}",
        "--context-values",
        'env={"region": "us"}',
    ]
    argv += ["--context-values", "other=[1, 2]"]
    assert cli.main(argv) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert docs[-1]["fields"] == {"env": {"region": "us"}, "other": [1, 2]}


def test_docker_function_is_refused(tmp_path: Path, inputs: dict[str, str], capsys) -> None:
    fns = write_stream(
        tmp_path / "docker.yaml",
        {
            "apiVersion": "pkg.crossplane.io/v1",
            "kind": "Function",
            "metadata": {"name": "function-test"},
            "spec": {
                "package": "xpkg.crossplane.io/crossplane-contrib/function-go-templating:v0.9.0"
            },
        },
    )
    assert cli.main([inputs["xr"], inputs["comp"], fns]) == 1
    assert 'function "function-test": cannot run locally' in capsys.readouterr().err


def test_annotation_override_makes_a_function_development(
    inputs: dict[str, str], tmp_path, capsys
) -> None:
    fn = yaml.safe_load(Path(inputs["functions"]).read_text().split("---")[0])
    target = fn["metadata"]["annotations"]["render.crossplane.io/runtime-development-target"]
    fns = write_stream(tmp_path / "plain.yaml", {**fn, "metadata": {"name": "function-test"}})
    argv = [inputs["xr"], inputs["comp"], fns, "-o", inputs["observed"]]
    argv += ["-a", "render.crossplane.io/runtime=Development"]
    argv += ["-a", f"render.crossplane.io/runtime-development-target={target}"]
    assert cli.main(argv) == 0, capsys.readouterr().err


def test_timeout(tmp_path: Path, farm: Farm, capsys) -> None:  # noqa: F811
    def slow(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        time.sleep(1)
        return response.to(req)

    _, fn = farm.start("function-test", slow)
    argv = [
        write_stream(tmp_path / "xr.yaml", XR),
        write_stream(tmp_path / "c.yaml", composition(("s", "function-test"))),
    ]
    argv += [write_stream(tmp_path / "f.yaml", fn), "--timeout", "200ms"]
    assert cli.main(argv) == 1
    assert (
        'cannot run pipeline step "s": rpc error: code = DeadlineExceeded'
        in capsys.readouterr().err
    )


def test_parse_duration() -> None:
    assert cli.parse_duration("1m") == 60
    assert cli.parse_duration("1m30s") == 90
    assert cli.parse_duration("1.5s") == 1.5
    assert cli.parse_duration("250ms") == 0.25
    with pytest.raises(Exception, match="invalid duration"):
        cli.parse_duration("10")


def test_functions_file_is_checked(tmp_path: Path, inputs: dict[str, str], capsys) -> None:
    fns = write_stream(tmp_path / "bad.yaml", config_map("oops"))
    assert cli.main([inputs["xr"], inputs["comp"], fns]) == 1
    assert "not a function: ConfigMap/oops" in capsys.readouterr().err


def test_without_functions_file_our_function_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    script = tmp_path / "fake_forge_main.py"
    script.write_text(FAKE_FORGE_MAIN)
    monkeypatch.setenv(COMMAND_ENV, f"{sys.executable} {script}")
    comp = write_stream(tmp_path / "c.yaml", composition(("compose", "function-forge")))
    assert cli.main([write_stream(tmp_path / "xr.yaml", XR), comp]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert docs[1]["metadata"]["annotations"]["crossplane.io/composition-resource-name"] == "cm"


def test_sigterm_stops_our_function(tmp_path: Path, farm: Farm) -> None:  # noqa: F811
    script = tmp_path / "fake_forge_main.py"
    script.write_text(FAKE_FORGE_MAIN)
    reached = threading.Event()

    def slow(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        reached.set()
        time.sleep(3)
        return response.to(req)

    _, fn = farm.start("function-slow", slow)
    ours = {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Function",
        "metadata": {"name": "function-forge"},
    }
    comp = composition(("compose", "function-forge"), ("slow", "function-slow"))
    pid_file = tmp_path / "pid"
    env = {**os.environ, COMMAND_ENV: f"{sys.executable} {script}", "FAKE_PID_FILE": str(pid_file)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions"), str(ROOT)])
    argv = [write_stream(tmp_path / "xr.yaml", XR), write_stream(tmp_path / "c.yaml", comp)]
    argv.append(write_stream(tmp_path / "f.yaml", ours, fn))
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge.render.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert reached.wait(30), proc.communicate(timeout=5)
        pid = int(pid_file.read_text())
        assert _alive(pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _alive(pid)


def _subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "forge.render.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_entry_point_is_deterministic_and_fails_cleanly(inputs: dict[str, str]) -> None:
    argv = [
        inputs["xr"],
        inputs["comp"],
        inputs["functions"],
        "-o",
        inputs["observed"],
        "-e",
        inputs["required"],
    ]
    first, second = _subprocess(*argv, "-r", "-c"), _subprocess(*argv, "-r", "-c")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    failed = _subprocess(
        inputs["xr"], inputs["fail_comp"], inputs["functions"], "-o", inputs["observed"]
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert 'pipeline step "check" returned a fatal result: spec.size: too big' in failed.stderr


def test_help_names_crossplane_render_flags() -> None:
    text = cli.parser().format_help()
    for flag in (
        "--observed-resources",
        "--required-resources",
        "--extra-resources",
        "--include-full-xr",
    ):
        assert flag in text
