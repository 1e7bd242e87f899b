#!/usr/bin/env bash
# The GPU check: the one command that runs on a lent GPU machine (see the README, "The LLM world").
#
#   usage: scripts/gpu_check.sh [--stage imports|run] [--out DIR] [--profile NAME|FILE] [--deadline-s S]
#                               [--outputs-dir DIR] [--dry-run]
#
# On the GPU machine (after scripts/gpu_wheels.sh here prepared .gpu_wheels/call1 and call2), two device calls:
#   1. carry [".gpu_wheels/call1"], command `scripts/gpu_check.sh --stage imports`: installs the wheels that arrived
#      whole, checks their imports and the GPU (useful work while the rest is on its way);
#   2. carry [".gpu_wheels/call2"] within the machine's warm window (ignored files stay between warm calls), command
#      `scripts/gpu_check.sh`: reassembles the split wheels (sha256 checked against the manifest), installs
#      everything into a local target (no registry there; the image's torch is kept, its transformers shadowed),
#      and runs the gpu_check profile through run_all.sh's runner inside a 7-minute deadline (--deadline-s).
# --dry-run runs the same driver on this CPU machine at smoke_llm sizes with the project's .venv (no GPU, no
# carried wheels); the test suite does so. Either way the summary lands in $OUT (else --out, else
# outputs/gpu_check_summary/): summary.json (strict JSON), summary.txt, runner.log, sampling_backends.json;
# it is rewritten after each notebook, so a run stopped at any point still leaves what it measured.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
stage=run; dry=0; out="${OUT:-}"; profile=""; deadline=420; outputs=()
while (($#)); do
    case $1 in
        --stage) stage="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        --deadline-s) deadline="$2"; shift 2 ;;
        --outputs-dir) outputs=(--outputs-dir "$2"); shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
out="${out:-$here/outputs/gpu_check_summary}"
mkdir -p "$out"

if ((dry)); then
    source "$here/scripts/bootstrap.sh"
    exec "$here/.venv/bin/python" scripts/gpu_check.py --dry-run --profile "${profile:-smoke_llm}" --out "$out" \
        --deadline-s "$deadline" --bench-questions 2 --bench-samples 2 "${outputs[@]}"
fi

python=/opt/torch/.venv/bin/python3
[[ -x $python ]] || python="$(command -v python3)"
site=/tmp/raml_site
wheels=/tmp/raml_wheels
mkdir -p "$site" "$wheels"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

# Gathers the wheels from the call folders present (reassembling split ones) into $wheels; prints what is missing.
"$python" - "$here/.gpu_wheels" "$wheels" "$stage" <<'PY'
import hashlib, json, sys
from pathlib import Path
src, dst, stage = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
calls = sorted(src.glob("call*"))
if not calls:
    sys.exit(f"gpu_check.sh: no {src}/call* folder here: run scripts/gpu_wheels.sh on the CPU machine and carry it")
manifest = json.loads((calls[0] / "manifest.json").read_text())
# Parts are kept in dst/parts, so that a part that came in an earlier call need not still be in its call folder.
(dst / "parts").mkdir(exist_ok=True)
for f in (f for c in calls for f in c.iterdir() if ".whl.part" in f.name):
    if not (dst / "parts" / f.name).exists():
        (dst / "parts" / f.name).write_bytes(f.read_bytes())
present = {f.name: f for f in (dst / "parts").iterdir()} | {f.name: f for c in calls for f in c.iterdir()}
missing = []
for w in manifest["wheels"]:
    target = dst / w["file"]
    if target.exists() and target.stat().st_size == w["bytes"]:
        continue
    pieces = [p["file"] for p in w["parts"]] or [w["file"]]
    if not all(p in present for p in pieces):
        missing.append(w["file"])
        continue
    data = b"".join(present[p].read_bytes() for p in pieces)
    if hashlib.sha256(data).hexdigest() != w["sha256"]:
        sys.exit(f"gpu_check.sh: {w['file']}: sha256 differs from the manifest (a part is damaged)")
    target.write_bytes(data)
print(f"[gpu_check] {len(manifest['wheels']) - len(missing)} of {len(manifest['wheels'])} wheels here"
      + (f"; still to come: {', '.join(missing)}" if missing else ""))
if missing and stage == "run":
    sys.exit("gpu_check.sh: wheels are missing: carry .gpu_wheels/call2 (and call1 within the warm window)")
PY

installed="$site/.installed"
touch "$installed"
todo=()
for f in "$wheels"/*.whl "$wheels"/*.tar.gz; do
    [[ -e $f ]] && ! grep -qxF "$(basename "$f")" "$installed" && todo+=("$f")
done
if ((${#todo[@]})); then
    echo "[gpu_check] installing ${#todo[@]} packages into $site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --no-build-isolation --upgrade \
        --target "$site" "${todo[@]}"
    printf '%s\n' "${todo[@]##*/}" >>"$installed"
fi

if [[ $stage == imports ]]; then
    "$python" - "$out" <<'PY'
import importlib, json, sys, time
out = {}
for name in ("transformers", "datasets", "papermill", "ipykernel", "nbconvert", "trl", "reasoning_gym", "gguf"):
    start = time.perf_counter()
    try:
        module = importlib.import_module(name)
        out[name] = {"ok": True, "version": getattr(module, "__version__", None), "import_s": round(time.perf_counter() - start, 2)}
    except Exception as err:  # not yet carried, or broken: recorded
        out[name] = {"ok": False, "error": f"{type(err).__name__}: {err}"}
import torch
out["cuda"] = {"available": torch.cuda.is_available(), "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
               "torch": torch.__version__}
json.dump(out, open(f"{sys.argv[1]}/imports.json", "w"), indent=1)
print(json.dumps(out, indent=1))
PY
    exit 0
fi

exec "$python" scripts/gpu_check.py --profile "${profile:-gpu_check}" --out "$out" --deadline-s "$deadline" "${outputs[@]}"
