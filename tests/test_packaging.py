"""Dónde se lee el libro: lo que importan cuadernos y biblioteca está declarado (pip, conda/Binder), la
instalación de torch elige la rueda CPU sin GPU NVIDIA, y los flujos de GitHub Actions pasan actionlint."""
import ast
import functools
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"vaebook_lib"}
# Módulos cuyo paquete no está instalado aquí (o cuyo nombre no coincide): módulo -> distribución.
KNOWN = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml", "torch": "torch", "myst_nb": "myst-nb"}
# Nombres de conda (conda-forge) -> distribución de PyPI.
CONDA = {"pytorch": "torch", "pytorch-cpu": "torch"}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
    return any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names)


def imports_in(source: str) -> dict[str, bool]:
    """Módulos de primer nivel importados en ``source`` -> si son obligatorios.

    Un import dentro de un ``try`` que captura ``ImportError`` es opcional (p. ej. ``myst_nb`` en report.py).
    """
    found: dict[str, bool] = {}

    def visit(node, optional):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for child in node.body:
                visit(child, True)
            for part in (node.handlers, node.orelse, node.finalbody):
                for child in part:
                    visit(child, optional)
            return
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            found[top] = found.get(top, False) or not optional
        for child in ast.iter_child_nodes(node):
            visit(child, optional)

    visit(ast.parse(source), False)
    return found


def notebook_source(path: Path) -> str:
    """El código de un cuaderno, sin las líneas mágicas de IPython (``!pip``, ``%time``)."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            cells.append("\n".join("pass" if line.lstrip().startswith(("!", "%")) else line for line in lines))
    return "\n".join(cells)


def third_party_imports() -> dict[str, list[str]]:
    """Módulo de terceros obligatorio -> ficheros (cuadernos de book/, módulos de vaebook_lib/) que lo importan."""
    where: dict[str, list[str]] = {}
    sources = [(p, notebook_source(p)) for p in sorted((ROOT / "book").rglob("*.ipynb"))
               if ".ipynb_checkpoints" not in p.parts]
    sources += [(p, p.read_text()) for p in sorted((ROOT / "vaebook_lib").rglob("*.py"))]
    for path, source in sources:
        for module, required in imports_in(source).items():
            if required and module not in sys.stdlib_module_names and module not in FIRST_PARTY | {"__future__"}:
                where.setdefault(module, []).append(path.relative_to(ROOT).as_posix())
    return where


@functools.cache
def _installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution(module: str) -> str:
    if module in KNOWN:
        return KNOWN[module]
    dists = _installed().get(module)
    if not dists:
        raise LookupError(f"no sé qué distribución da el módulo {module!r}: añádalo a KNOWN en este fichero")
    return canonicalize_name(dists[0])


def declared_pyproject() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}


def environment() -> tuple[list[str], list[str]]:
    """(dependencias de conda, dependencias de pip) de environment.yml."""
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [r for d in deps if isinstance(d, dict) for r in d.get("pip", [])]
    return conda, pip


def declared_environment() -> set[str]:
    conda, pip = environment()
    names = {canonicalize_name(re.split(r"[<>=!~ \[]", d, maxsplit=1)[0]) for d in conda}
    names = {CONDA.get(n, n) for n in names}
    names |= {canonicalize_name(Requirement(r).name) for r in pip if not r.startswith("-")}
    return names


def missing(modules, declared: set[str]) -> list[str]:
    return sorted(m for m in modules if canonicalize_name(distribution(m)) not in declared)


def test_import_parser_separates_required_and_optional():
    src = ("import numpy as np\nfrom torch.distributions import Normal\nimport os\n"
           "try:\n    from myst_nb import glue\nexcept ImportError:\n    glue = None\n"
           "try:\n    import yaml\nexcept ValueError:\n    pass\n"
           "def f():\n    import scipy.stats\n    from . import x\n")
    assert imports_in(src) == {"numpy": True, "torch": True, "os": True, "myst_nb": False, "yaml": True,
                               "scipy": True}


def test_the_check_finds_an_undeclared_import():
    # El mismo criterio con una declaración a la que le falta algo: debe señalarlo (no es una prueba vacía).
    assert missing(["numpy", "sklearn", "yaml"], {"numpy", "scikit-learn"}) == ["yaml"]


def test_every_import_of_notebooks_and_library_is_declared_in_pyproject_and_environment():
    where = third_party_imports()
    # Lo que sí importan: si esto falla, el análisis de los cuadernos dejó de ver sus imports.
    assert {"torch", "numpy", "matplotlib", "sklearn", "ipywidgets"} <= set(where), sorted(where)
    for name, declared in (("pyproject.toml [project.dependencies]", declared_pyproject()),
                           ("environment.yml", declared_environment())):
        lost = missing(where, declared)
        assert not lost, f"Importados pero no declarados en {name}: " + "; ".join(
            f"{m} ({distribution(m)}, en {', '.join(where[m][:3])})" for m in lost)


def test_colab_and_binder_get_what_they_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["dependencies"]}
    # Colab trae ipywidgets 7.7 y su propio torch: la instalación no debe actualizar ninguno de los dos.
    assert reqs["ipywidgets"].specifier.contains("7.7.1"), reqs["ipywidgets"]
    assert str(reqs["torch"].specifier) == "", "torch no debe fijar versión (Colab trae la suya)"
    conda, _ = environment()
    assert "pytorch-cpu" in conda or {"pytorch", "cpuonly"} <= set(conda), "environment.yml debe pedir PyTorch CPU"
    env_widgets = next(d for d in conda if d.startswith("ipywidgets"))
    assert Requirement(env_widgets).specifier.contains("7.7.1"), env_widgets
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert os.access(ROOT / "postBuild", os.X_OK), "postBuild (Binder instala vaebook_lib) debe ser ejecutable"


# --- tools/install-torch.sh: la rueda CPU sin GPU NVIDIA, con vuelta al torch por defecto ---------------------

FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$*" in
  "-c import torch") exit 1 ;;
  *--index-url*) exit "$FAKE_INDEX_RC" ;;
esac
exit 0
"""


def run_install(tmp_path, gpu: bool, index_rc: int = 0, torch_spec: str | None = None):
    """Ejecuta install-torch.sh con un «python» falso que anota cada orden (no descarga nada)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    (bin_dir / "nvidia-smi").unlink(missing_ok=True)
    if gpu:
        (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    log = tmp_path / "log"
    log.write_text("")
    # PATH sin el nvidia-smi de la máquina, si lo hubiera: solo el falso y las herramientas básicas.
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("uname", "echo", "cat"):
        if not (tools / tool).exists():
            (tools / tool).symlink_to(shutil.which(tool))
    env = {"PATH": f"{bin_dir}:{tools}", "FAKE_LOG": str(log), "FAKE_INDEX_RC": str(index_rc),
           "VAEBOOK_TORCH_CPU_INDEX": "http://indice-cpu.invalid/whl/cpu"}
    if torch_spec:
        env["VAEBOOK_TORCH"] = torch_spec
    out = subprocess.run(["/bin/bash", str(ROOT / "tools/install-torch.sh"), str(fake)], env=env,
                         capture_output=True, text=True, timeout=30)
    pip_calls = [line for line in log.read_text().splitlines() if line.startswith("-m pip")]
    return out, pip_calls


needs_linux = pytest.mark.skipif(sys.platform != "linux", reason="la rueda CPU solo se pide en Linux")


@needs_linux
def test_without_nvidia_gpu_the_cpu_wheel_index_is_used(tmp_path):
    out, calls = run_install(tmp_path, gpu=False)
    assert out.returncode == 0, out.stderr
    assert calls == ["-m pip install -q --retries 1 --timeout 30 --index-url http://indice-cpu.invalid/whl/cpu torch"]


@needs_linux
def test_unreachable_cpu_index_falls_back_to_default_torch(tmp_path):
    out, calls = run_install(tmp_path, gpu=False, index_rc=1)
    assert out.returncode == 0, out.stderr
    assert len(calls) == 2 and "--index-url" in calls[0] and calls[1] == "-m pip install -q torch"
    assert "no responde" in out.stderr


def test_with_nvidia_gpu_default_torch_is_used(tmp_path):
    out, calls = run_install(tmp_path, gpu=True)
    assert out.returncode == 0, out.stderr
    assert calls == ["-m pip install -q torch"]


@pytest.mark.parametrize("gpu", [False, True])
def test_vaebook_torch_overrides_both(tmp_path, gpu):
    out, calls = run_install(tmp_path, gpu=gpu, index_rc=1, torch_spec="torch==2.13.0")
    assert out.returncode == 0, out.stderr
    assert calls == ["-m pip install -q torch==2.13.0"]


def test_torch_already_installed_is_left_alone(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\necho "$*" >> "$FAKE_LOG"\nexit 0\n')  # «import torch» funciona
    fake.chmod(0o755)
    out = subprocess.run(["/bin/bash", str(ROOT / "tools/install-torch.sh"), str(fake)],
                         env={"PATH": os.environ["PATH"], "FAKE_LOG": str(log)}, capture_output=True, timeout=30)
    assert out.returncode == 0 and log.read_text().splitlines() == ["-c import torch"]


# --- GitHub Actions -----------------------------------------------------------------------------------------

def actionlint() -> str | None:
    return shutil.which("actionlint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_workflows_exist():
    workflows = {p.name: yaml.safe_load(p.read_text()) for p in (ROOT / ".github/workflows").glob("*.yml")}
    assert {"test.yml", "book.yml"} <= set(workflows)
    test_steps = [s.get("run", "") for job in workflows["test.yml"]["jobs"].values() for s in job["steps"]]
    assert "make test" in test_steps
    uses = [s.get("uses", "") for job in workflows["book.yml"]["jobs"].values() for s in job["steps"]]
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)


@pytest.mark.skipif(actionlint() is None and not os.environ.get("CI"),
                    reason="falta actionlint (pip install -e '.[test]'); en la CI es obligatorio")
def test_workflows_pass_actionlint():
    exe = actionlint()
    assert exe, "falta actionlint: pip install -e '.[test]'"
    files = sorted(str(p) for p in (ROOT / ".github/workflows").glob("*.yml"))
    out = subprocess.run([exe, "-no-color", *files], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, f"actionlint encontró problemas:\n{out.stdout}{out.stderr}"
