"""The model registry: versioned checkpoint folders plus a `latest` pointer, on a local disk.

Layout of a registry folder::

    versions/<version>/   a checkpoint: weights (full or adapter) and its taosr1.json
    latest                one line: the version name the service should serve
    .staging-*/           a publish in progress (or one that crashed); never read

`publish` copies a checkpoint into a staging folder, fsyncs every file and the folder,
renames it into `versions/` (atomic on one filesystem), fsyncs `versions/`, and only then
replaces `latest` (temp file, fsync, rename, fsync of the registry folder). A crash at any
point leaves the registry valid: either the new version is absent, or present but not yet
`latest`, or fully published. `resolve` turns a version name into a folder and refuses
anything that would leave the registry (path traversal, absolute paths, links).

`publish` validates the staged copy (relevance.validate: manifest, weights readable and
shaped for their base, tokenizer, one token per label) before the rename, so a broken
checkpoint never enters `versions/` and `latest` only ever names a version that validated.
`fallback_versions` lists what a starting service tries after `latest`.

Serving imports this module to hot-load, so it knows nothing about training.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from relevance.manifest import MANIFEST_FILE, CheckpointManifest, ManifestError, read_manifest, write_manifest
from relevance.validate import CheckpointInvalid, validate_checkpoint

VERSIONS_DIR = "versions"
LATEST_FILE = "latest"
STAGING_PREFIX = ".staging-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_AUTO = re.compile(r"^v(\d+)$")

# Names of the steps of `publish`, in order; tests inject a crash after each one.
PUBLISH_STEPS = ("staged", "manifest_written", "renamed", "latest_tmp_written", "latest_replaced")


class RegistryError(ValueError):
    """A registry operation was refused: bad version name, missing version, broken pointer."""


class PublishRefused(RegistryError):
    """`publish` refused a checkpoint that failed validation; nothing was written."""


class VersionNameError(RegistryError):
    """A version name that is not allowed or would resolve outside the registry (the caller's input is wrong)."""


def check_version_name(version: str) -> str:
    """Return `version` if it is a safe folder name inside the registry, else raise VersionNameError.

    >>> check_version_name("v0003")
    'v0003'
    >>> check_version_name("../etc")
    Traceback (most recent call last):
    ...
    relevance.registry.VersionNameError: version name '../etc' is not allowed: use letters, digits, '.', '_' or '-' (at most 64, not starting with '.' or '-'), e.g. 'v0003'
    """
    if not isinstance(version, str) or not _NAME.match(version) or version in (".", "..", LATEST_FILE):
        raise VersionNameError(
            f"version name {version!r} is not allowed: use letters, digits, '.', '_' or '-' "
            "(at most 64, not starting with '.' or '-'), e.g. 'v0003'"
        )
    return version


def next_version(existing: list[str]) -> str:
    """The next automatic version name after the `vNNNN` names in `existing`.

    >>> next_version([]), next_version(["v0001", "v0007", "custom"])
    ('v0001', 'v0008')
    """
    numbers = [int(m.group(1)) for v in existing if (m := _AUTO.match(v))]
    return f"v{max(numbers, default=0) + 1:04d}"


def list_versions(registry_dir: Path | str) -> list[str]:
    """Published versions (folders under versions/ with a manifest), oldest first by name."""
    root = Path(registry_dir) / VERSIONS_DIR
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and _NAME.match(p.name) and (p / MANIFEST_FILE).is_file()
    )


def resolve(registry_dir: Path | str, version: str = LATEST_FILE) -> Path:
    """The folder of `version` ('latest' follows the pointer); refuses names that leave the registry."""
    registry = Path(registry_dir).resolve()
    if version == LATEST_FILE:
        latest = read_latest(registry)
        if latest is None:
            raise RegistryError(f"registry {registry} has no published version yet (no {LATEST_FILE} pointer)")
        version = latest
    check_version_name(version)
    root = (registry / VERSIONS_DIR).resolve()
    path = root / version
    if path.is_symlink() or path.resolve().parent != root:
        raise VersionNameError(f"version {version!r} resolves outside the registry {registry}; refusing it")
    if not (path / MANIFEST_FILE).is_file():
        known = ", ".join(list_versions(registry)) or "none"
        raise RegistryError(f"version {version!r} is not in registry {registry} (published: {known})")
    return path


def read_latest(registry_dir: Path | str) -> str | None:
    """The version the `latest` pointer names, or None when nothing was published yet."""
    pointer = Path(registry_dir) / LATEST_FILE
    if not pointer.is_file():
        return None
    version = pointer.read_text().strip()
    check_version_name(version)
    if not (Path(registry_dir) / VERSIONS_DIR / version / MANIFEST_FILE).is_file():
        raise RegistryError(f"{pointer} names {version!r}, which is not a published version")
    return version


def read_version_manifest(registry_dir: Path | str, version: str = LATEST_FILE) -> CheckpointManifest:
    return read_manifest(resolve(registry_dir, version))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tree_durably(src: Path, dst: Path) -> None:
    """Copy regular files of `src` into `dst` (recursively), fsyncing each file and folder."""
    for item in sorted(src.iterdir()):
        if item.name.startswith(STAGING_PREFIX) or item.is_symlink():
            continue
        target = dst / item.name
        if item.is_dir():
            target.mkdir()
            _copy_tree_durably(item, target)
        elif item.is_file():
            shutil.copyfile(item, target)
            with open(target, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(dst)


def _write_pointer(registry: Path, version: str, hook: Callable[[str], None]) -> None:
    tmp = registry / f".{LATEST_FILE}.tmp"
    with open(tmp, "w") as fh:
        fh.write(version + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    hook("latest_tmp_written")
    os.replace(tmp, registry / LATEST_FILE)
    _fsync_dir(registry)
    hook("latest_replaced")


def clean_staging(registry_dir: Path | str) -> int:
    """Remove leftovers of crashed publishes; returns how many were removed."""
    registry = Path(registry_dir)
    removed = 0
    if registry.is_dir():
        for p in registry.iterdir():
            if p.name.startswith(STAGING_PREFIX) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
    return removed


def publish(
    src_dir: Path | str,
    registry_dir: Path | str,
    manifest: CheckpointManifest | None = None,
    *,
    version: str | None = None,
    make_latest: bool = True,
    validate: bool = True,
    cache_dir: Path | str | None = None,
    _hook: Callable[[str], None] | None = None,
) -> Path:
    """Publish the checkpoint in `src_dir` as a new version; returns its folder.

    `manifest` (default: the one in `src_dir`) is written with `version` filled in — an
    explicit name, or the next `vNNNN`; its `parent` defaults to the current latest.
    With `validate` (the default) the staged copy must pass relevance.validate, else
    PublishRefused (one line) and nothing is published; `cache_dir` is where an adapter's
    embedded base model is prepared (default: var/cache). `validate=False` exists for tests
    that need a broken version in a registry.
    `_hook(step)` is called after each step of PUBLISH_STEPS (crash-injection for tests).
    """
    hook = _hook or (lambda step: None)
    src = Path(src_dir)
    if not src.is_dir():
        raise RegistryError(f"nothing to publish: {src} is not a folder")
    if manifest is None:
        manifest = read_manifest(src)
    registry = Path(registry_dir)
    (registry / VERSIONS_DIR).mkdir(parents=True, exist_ok=True)
    clean_staging(registry)
    existing = list_versions(registry)
    version = check_version_name(version or next_version(existing))
    if (registry / VERSIONS_DIR / version).exists():
        raise RegistryError(f"version {version!r} already exists in {registry}; versions are immutable")
    parent = manifest.parent if manifest.parent is not None else read_latest(registry)
    final_manifest = replace(manifest, version=version, parent=parent)

    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}-", dir=registry))
    try:
        _copy_tree_durably(src, staging)
        hook("staged")
        write_manifest(staging, final_manifest)
        _fsync_dir(staging)
        hook("manifest_written")
        if validate:
            _validate_staged(staging, src, cache_dir)
        os.rename(staging, registry / VERSIONS_DIR / version)
        _fsync_dir(registry / VERSIONS_DIR)
        hook("renamed")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = registry / VERSIONS_DIR / version
    if make_latest:
        _write_pointer(registry, version, hook)
    return target


def _validate_staged(staging: Path, src: Path, cache_dir: Path | str | None) -> None:
    from relevance.paths import REPO_ROOT

    try:
        validate_checkpoint(staging, cache_dir or REPO_ROOT / "var" / "cache")
    except CheckpointInvalid as exc:
        reason = str(exc).replace(str(staging), str(src))
        raise PublishRefused(f"not published: {reason}") from exc


def fallback_versions(registry_dir: Path | str, latest: str | None) -> list[str]:
    """Versions to try, newest first, when `latest` cannot be served: its `parent` chain.

    `publish` records the `latest` of the time as a version's parent, so the chain is the
    pointer's history (a rollback's abandoned versions drop out). When the chain cannot be
    read (no latest, or its manifest is broken) every other published version, by name
    descending (`vNNNN` names sort by age).
    """
    known = set(list_versions(registry_dir))
    root = Path(registry_dir) / VERSIONS_DIR
    try:
        current = read_manifest(root / latest).parent if latest in known else None
    except ManifestError:
        latest_readable = False
    else:
        latest_readable = latest in known
    if not latest_readable:
        return [v for v in sorted(known, reverse=True) if v != latest]
    chain: list[str] = []
    while current in known and current not in chain and current != latest:
        chain.append(current)
        try:
            current = read_manifest(root / current).parent
        except ManifestError:
            break
    return chain


def set_latest(registry_dir: Path | str, version: str) -> None:
    """Point `latest` at an already published version (rollback / promote)."""
    resolve(registry_dir, version)
    _write_pointer(Path(registry_dir), version, lambda step: None)


def check_registry(registry_dir: Path | str) -> list[str]:
    """Problems that would stop a reader (empty list = valid): broken manifests, a dangling pointer."""
    problems = []
    for v in list_versions(registry_dir):
        try:
            read_manifest(Path(registry_dir) / VERSIONS_DIR / v)
        except ManifestError as exc:
            problems.append(str(exc))
    try:
        read_latest(registry_dir)
    except RegistryError as exc:
        problems.append(str(exc))
    return problems
