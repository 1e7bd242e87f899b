# Sourced by run_all.sh and test.sh (or run directly): makes sure .venv exists and matches
# requirements.txt + pyproject.toml, then exports the offline settings the notebooks expect.
#
# pip runs only when those files changed since the last successful install (their sha256 is kept
# in .venv/.raml-installed), so every run after the first starts at once.

RAML_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The study must never reach the Hugging Face hub mid-run; callers may still override these.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"

# A subshell function, so its `cd` cannot leak into the shell that sources this file. Each step
# checks itself (`|| return`): bash ignores `set -e` in a function called from an `if`.
_raml_setup() (
    cd "$RAML_ROOT" || return
    local venv=.venv stamp=.venv/.raml-installed files=(requirements.txt requirements-nodeps.txt pyproject.toml) python want

    if [[ ! -x $venv/bin/python ]]; then
        python="$(command -v python3.11 || command -v python3)" || return
        echo "[setup] creating $venv with $python"
        "$python" -m venv "$venv" || return
    fi

    want="$(sha256sum "${files[@]}")" || return
    if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
        echo "[setup] environment up to date"
        return 0
    fi

    echo "[setup] installing requirements.txt (the first time downloads torch: a few minutes)"
    # One pip call: torch==...+cpu is requirements.txt's first line, so nothing pulls a CUDA build first.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt -e . || return
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt || return
    # Written last, so an interrupted or failed install is retried next time.
    echo "$want" >"$stamp" || return
    echo "[setup] environment ready"
)

# GPU machines: vLLM in an environment of its own (it pins another torch and transformers). Optional: where it
# cannot be installed, the study samples with transformers and every notebook prints which backend ran.
_raml_setup_vllm() (
    cd "$RAML_ROOT" || return
    local venv=.venv-vllm stamp=.venv-vllm/.raml-installed want python
    nvidia-smi -L >/dev/null 2>&1 && [[ -f requirements-vllm.txt ]] || return 0
    want="$(sha256sum requirements-vllm.txt)" || return
    [[ -f $stamp && "$(cat "$stamp")" == "$want" ]] && return 0
    python="$(command -v python3.11 || command -v python3)" || return
    echo "[setup] CUDA GPU visible: installing requirements-vllm.txt into $venv (sampling backend; a few minutes)"
    [[ -x $venv/bin/python ]] || "$python" -m venv "$venv" || return
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-vllm.txt || return
    echo "$want" >"$stamp"
)

if ! _raml_setup; then
    echo "[setup] failed: fix the error above and rerun" >&2
    return 1 2>/dev/null || exit 1  # `return` when sourced, `exit` when run directly
fi
if ! _raml_setup_vllm; then
    echo "[setup] vLLM could not be installed into .venv-vllm: the LLM world samples with transformers" >&2
fi
