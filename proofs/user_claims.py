"""User claim files: a Python file that defines ``CLAIMS = [Claim, ...]`` with the public API of `proofs`, run by
``prefixcheck check --claims FILE`` with the catalogue's machinery (docs/writing-claims.md).

Problems are reported where they are:

* bad input (a missing file, a file that defines no claims, an id that is already a catalogue claim) raises
  `ClaimFileError`: the command line prints one line and exits 2;
* a file that cannot be executed (syntax error, failing import, a `Claim` that cannot be built), an entry of
  ``CLAIMS`` that is not a `Claim`, or a duplicate id becomes a `LoadError` with file and line; every other
  claim still runs;
* a check that raises is an ERROR layer of that claim only, naming the line of the claim file where it happened.

Each loaded claim gets ``source = "FILE:LINE"``: the line of its id's string literal (or of ``CLAIMS``).
"""
from __future__ import annotations

import ast
import dataclasses
import sys
import traceback
import types
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofs.claim import Check, Claim, Context, LayerResult, Status


class ClaimFileError(Exception):
    """Bad input: a claims file that is missing, defines no claims, or reuses a catalogue id."""


@dataclass
class LoadError:
    """A problem in a claims file, reported in place of the claim(s) it concerns."""

    path: str
    line: int | None
    message: str
    claim_id: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_json(self) -> dict[str, Any]:
        return {"file": self.path, "line": self.line, "id": self.claim_id, "message": self.message}


@dataclass
class LoadedClaims:
    claims: list[Claim] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def load_claim_file(path: str | Path, reserved: Iterable[str] = ()) -> LoadedClaims:
    """The claims of one file; ``reserved`` ids (the catalogue's) may not be reused."""
    return load_claim_files([path], reserved)


def load_claim_files(paths: Sequence[str | Path], reserved: Iterable[str] = ()) -> LoadedClaims:
    """The claims of several files, in order; an id may appear once across all files and never in ``reserved``.
    A file given twice (under any spelling of its path) is loaded once."""
    reserved = set(reserved)
    out = LoadedClaims()
    first: dict[str, str] = {}
    for path in unique_paths(paths):
        loaded = _load_one(Path(path))
        out.errors.extend(loaded.errors)
        for claim in loaded.claims:
            if claim.id in reserved:
                raise ClaimFileError(f"{claim.source}: claim id {claim.id!r} is already a catalogue claim; "
                                     f"choose another id")
            if claim.id in first:
                file, _, line = claim.source.rpartition(":")
                at, number = (file, int(line)) if line.isdigit() else (claim.source, None)
                out.errors.append(LoadError(at, number, f"duplicate claim id {claim.id!r} (first defined at "
                                            f"{first[claim.id]}); this one is not run", claim.id))
                continue
            first[claim.id] = claim.source
            out.claims.append(claim)
    return out


def unique_paths(paths: Sequence[str | Path]) -> list[str | Path]:
    """``paths`` without repeats of the same file (compared resolved), first spelling kept."""
    seen: dict[Path, str | Path] = {}
    for path in paths:
        seen.setdefault(Path(path).resolve(), path)
    return list(seen.values())


def _load_one(path: Path) -> LoadedClaims:
    name = str(path)
    if not path.exists():
        raise ClaimFileError(f"claims file not found: {name}")
    if not path.is_file() or path.suffix != ".py":
        raise ClaimFileError(f"claims file must be a Python file (.py): {name}")
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaimFileError(f"cannot read claims file {name}: {exc}") from None
    try:
        tree = ast.parse(source, filename=name)
        code = compile(tree, name, "exec")
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return LoadedClaims(errors=[LoadError(name, line, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}")])
    module = _execute(path, code)
    if isinstance(module, LoadError):
        return LoadedClaims(errors=[module])
    claims = module.__dict__.get("CLAIMS")
    if claims is None or (isinstance(claims, (list, tuple)) and not claims):
        raise ClaimFileError(f"{name} defines no claims (expected a list CLAIMS = [Claim, ...])")
    if not isinstance(claims, (list, tuple)):
        raise ClaimFileError(f"{name}: CLAIMS must be a list of proofs.Claim, got {type(claims).__name__}")
    lines = _literal_lines(tree)
    claims_line = _assignment_line(tree, "CLAIMS")
    out = LoadedClaims()
    used: dict[str, int] = defaultdict(int)
    for k, claim in enumerate(claims):
        if not isinstance(claim, Claim):
            out.errors.append(LoadError(name, claims_line, f"CLAIMS[{k}] is not a Claim (got {type(claim).__name__})"))
            continue
        candidates = lines.get(claim.id, [])
        line = candidates[min(used[claim.id], len(candidates) - 1)] if candidates else claims_line
        used[claim.id] += 1
        out.claims.append(_as_user_claim(claim, name, line))
    return out


def _execute(path: Path, code: types.CodeType) -> types.ModuleType | LoadError:
    """Run the file as a module (its folder on sys.path so it can import its neighbours)."""
    name = f"_prefixcheck_claims_{path.stem}_{zlib.crc32(str(path.resolve()).encode()):08x}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        return LoadError(str(path), _line_in(exc, str(path)), _describe(exc))
    return module


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _line_in(exc: BaseException, filename: str) -> int | None:
    """The line of the deepest traceback frame in ``filename``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return frames[-1].lineno if frames else None


def _literal_lines(tree: ast.AST) -> dict[str, list[int]]:
    """Every string literal of the file and the lines where it occurs, in order."""
    lines: dict[str, list[int]] = defaultdict(list)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            lines[node.value].append(node.lineno)
    return {text: sorted(found) for text, found in lines.items()}


def _assignment_line(tree: ast.Module, target: str) -> int | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id == target for t in targets):
            return node.lineno
    return None


def _as_user_claim(claim: Claim, path: str, line: int | None) -> Claim:
    """The claim with its source recorded and every check guarded (a raising check names the file's line)."""
    source = f"{path}:{line}" if line else path

    def guarded(check: Check | None) -> Check | None:
        return None if check is None else _guard(check, path, source)

    return dataclasses.replace(claim, source=source, symbolic=guarded(claim.symbolic), numeric=guarded(claim.numeric),
                               smt=guarded(claim.smt))


def _guard(check: Check, path: str, source: str) -> Check:
    def run(ctx: Context) -> LayerResult:
        try:
            result = check(ctx)
        except Exception as exc:  # one failing check must not stop the other claims
            frames = traceback.extract_tb(exc.__traceback__)
            mine = [f for f in frames if f.filename == path]
            if mine:
                where = f"{path}:{mine[-1].lineno}"
            else:
                where = f"claim at {source}; raised in {frames[-1].filename}:{frames[-1].lineno}"
            return LayerResult(Status.ERROR, f"{_describe(exc)} ({where})")
        if not isinstance(result, LayerResult):
            return LayerResult(Status.ERROR, f"the check of the claim at {source} returned "
                                             f"{type(result).__name__}, not a LayerResult")
        return result

    return run

