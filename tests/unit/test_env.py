from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from otel_chatbot import env
from otel_chatbot.errors import ConfigurationError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("span_only", True), ("false", False), ("no_content", False), ("", False)],
)
def test_capture_content_values(raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, raw)
    assert env.capture_content() is expected


def test_invalid_value_warns_and_defaults(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, "sometimes")
    assert env.capture_content() is False
    assert "use one of true, false" in caplog.text
    with pytest.raises(ConfigurationError):
        env.capture_content(strict=True)


def test_defaults_without_environment() -> None:
    assert env.capture_content() is False
    assert env.sdk_disabled() is False
    assert env.max_content_length() == env.DEFAULT_MAX_CONTENT_LENGTH
    assert env.prices_file() is None and env.otlp_traces_endpoint() is None and env.otlp_protocol() is None


def test_traces_endpoint_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.OTEL_EXPORTER_OTLP_ENDPOINT, "http://a:4317")
    monkeypatch.setenv(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "http://b:4318/v1/traces")
    assert env.otlp_traces_endpoint() == "http://b:4318/v1/traces"


# --- every OTEL_CHATBOT_* variable is a documented constant of env.py -------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ENV_PY = ROOT / "otel_chatbot" / "env.py"
_VARIABLE = re.compile(r"OTEL_CHATBOT_[A-Z0-9_]*\*?")


def _repository_files() -> list[Path]:
    """Every file of the repository (git's list: tracked plus untracked, minus ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def _variables_in(path: Path) -> set[str]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return set()
    # OTEL_CHATBOT_COLLECTOR_* (a wildcard) and the bare prefix OTEL_CHATBOT_ name no variable
    return {name for name in _VARIABLE.findall(text) if not name.endswith(("*", "_"))}


def _env_constants() -> dict[str, str]:
    """Constant name -> docstring of every string constant of env.py naming an environment variable."""
    body = ast.parse(ENV_PY.read_text()).body
    constants: dict[str, str] = {}
    for statement, following in zip(body, body[1:], strict=False):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        value = statement.value
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.startswith("OTEL_")):
            continue
        assert statement.target.id == value.value, f"env.{statement.target.id} = {value.value!r}: name them alike"
        doc = (
            following.value.value
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            else ""
        )
        constants[value.value] = str(doc)
    return constants


def test_every_otel_chatbot_variable_in_the_repository_is_a_constant_of_env_py() -> None:
    defined = set(_env_constants())
    undefined = {
        f"{name} ({path.relative_to(ROOT)})"
        for path in _repository_files()
        for name in _variables_in(path)
        if name not in defined
    }
    assert not undefined, f"define these in otel_chatbot/env.py: {sorted(undefined)}"


def test_every_constant_says_its_default_and_is_listed_in_the_module_docstring() -> None:
    constants = _env_constants()
    assert len(constants) > 30
    module_doc = ast.get_docstring(ast.parse(ENV_PY.read_text())) or ""
    for name, doc in constants.items():
        assert "default" in doc.lower(), f"{name}: the docstring must say the default"
        if name.startswith("OTEL_CHATBOT_"):
            assert f"``{name}``" in module_doc, f"{name} is missing from env.py's module docstring"


def test_every_constant_is_used_outside_env_py() -> None:
    used = set().union(*(_variables_in(p) for p in _repository_files() if p != ENV_PY and p.suffix != ".md"))
    stale = {name for name in _env_constants() if name.startswith("OTEL_CHATBOT_")} - used
    assert not stale, f"nothing reads these any more; remove them from env.py: {sorted(stale)}"


def test_library_code_names_variables_only_through_env_py() -> None:
    literals = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "otel_chatbot").rglob("*.py")
        if path != ENV_PY and re.search(r"[\"']OTEL_CHATBOT_", path.read_text())
    ]
    assert not literals, f"import the variable names from otel_chatbot.env instead: {literals}"
