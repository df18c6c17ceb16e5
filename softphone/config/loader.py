"""Loading provisioning from a path or an HTTPS URL, with a last-good cache.

Every provisioning file that validates is copied to the cache directory
(keyed by its source), so a later bad file or an unreachable server falls back
to the last good copy. Nothing that fails validation is ever written to the
cache. For URLs the cached ETag is sent as If-None-Match, and a 304 reuses
the cached copy without downloading it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from softphone.config.atomic import atomic_write_text
from softphone.config.errors import ConfigError, ConfigUnreadableError
from softphone.config.paths import is_url
from softphone.config.provisioning import validate_provisioning_text
from softphone.config.schema import Provisioning

log = logging.getLogger("softphone.config")

MAX_BYTES = 4 * 1024 * 1024
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ProvisioningLoad:
    """The provisioning in force and where it came from.

    Attributes:
        provisioning: the validated content.
        source: the path or URL asked for.
        from_cache: True when this is the last good copy, not the current source.
        problem: a sentence for the user when the current source could not be used.
        fetched_at: epoch seconds the content was last read from its source.
    """

    provisioning: Provisioning
    source: str
    from_cache: bool = False
    problem: str | None = None
    fetched_at: float = 0.0


def read_source(source: str, *, etag: str | None = None,
                ssl_context: ssl.SSLContext | None = None,
                timeout: float = TIMEOUT_SECONDS) -> tuple[str | None, str | None]:
    """Read a path or URL: ``(text, etag)``; text is None for a 304 Not Modified.

    Raises :class:`ConfigUnreadableError` when it cannot be read at all.
    """
    if not is_url(source):
        try:
            return Path(source).read_text(encoding="utf-8"), None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigUnreadableError(f"cannot read {source}: {_why(exc)}") from None
    if not source.lower().startswith("https://"):
        raise ConfigUnreadableError(
            f"{source}: provisioning URLs must use https:// (the file decides accounts "
            "and the directory, so it must come from an authenticated server)")
    request = urllib.request.Request(source, headers={"Accept": "application/toml, text/plain"})
    if etag:
        request.add_header("If-None-Match", etag)
    context = ssl_context or ssl.create_default_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read(MAX_BYTES + 1)
            new_etag = response.headers.get("ETag")
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return None, etag
        raise ConfigUnreadableError(f"{source}: the server answered {exc.code} {exc.reason}") \
            from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigUnreadableError(f"{source}: cannot connect: {reason}") from None
    if len(body) > MAX_BYTES:
        raise ConfigUnreadableError(f"{source}: larger than {MAX_BYTES // 1024} KiB")
    try:
        return body.decode("utf-8"), new_etag
    except UnicodeDecodeError:
        raise ConfigUnreadableError(f"{source}: not UTF-8 text") from None


def _why(exc: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in IT's words (the path is said already)."""
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory, not a file"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc)


class ProvisioningCache:
    """The last good copy of each provisioning source.

    Attributes:
        directory: where copies are kept (``<cache dir>/provisioning``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _stem(self, source: str) -> Path:
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:24]
        return self.directory / digest

    def get(self, source: str) -> tuple[str, dict[str, object]] | None:
        stem = self._stem(source)
        try:
            text = stem.with_suffix(".toml").read_text(encoding="utf-8")
            meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return (text, meta) if isinstance(meta, dict) else None

    def put(self, source: str, text: str, etag: str | None) -> None:
        stem = self._stem(source)
        meta = {"source": source, "etag": etag, "fetched_at": time.time()}
        # Text first: a crash between the two leaves old meta with new text, and
        # the worst outcome of a stale ETag is one full download.
        atomic_write_text(stem.with_suffix(".toml"), text)
        atomic_write_text(stem.with_suffix(".json"), json.dumps(meta))

    def touch(self, source: str) -> None:
        cached = self.get(source)
        if cached:
            text, meta = cached
            etag = meta.get("etag")
            self.put(source, text, etag if isinstance(etag, str) else None)


def load_provisioning(source: str, cache: ProvisioningCache | None = None, *,
                      ssl_context: ssl.SSLContext | None = None,
                      timeout: float = TIMEOUT_SECONDS) -> ProvisioningLoad:
    """Load and validate provisioning, falling back to the cache's last good copy.

    Without a cache (``softphone provisioning check``) errors are raised:
    :class:`ConfigError` for an invalid file, :class:`ConfigUnreadableError`
    for one that cannot be read. With a cache they are raised only when there
    is no good copy to fall back on.
    """
    cached = cache.get(source) if cache else None
    cached_etag = cached[1].get("etag") if cached else None
    try:
        text, etag = read_source(
            source, etag=cached_etag if isinstance(cached_etag, str) else None,
            ssl_context=ssl_context, timeout=timeout)
    except ConfigUnreadableError as exc:
        return _fallback(source, cached, f"{exc}", error=exc)
    if text is None:
        # 304: what we hold is current.
        if cache is None or cached is None:
            raise ConfigUnreadableError(f"{source}: 304 Not Modified to an unconditional request")
        try:
            provisioning = validate_provisioning_text(cached[0], source)
        except ConfigError as exc:
            return _fallback(source, None, "the cached copy is invalid", error=exc)
        cache.touch(source)
        return ProvisioningLoad(provisioning, source, fetched_at=time.time())
    try:
        provisioning = validate_provisioning_text(text, source)
    except ConfigError as exc:
        return _fallback(source, cached, f"{source} is invalid:\n{exc}", error=exc)
    if cache:
        try:
            cache.put(source, text, etag)
        except OSError as exc:
            log.warning("cannot cache provisioning from %s: %s", source, exc)
    return ProvisioningLoad(provisioning, source, fetched_at=time.time())


def _fallback(source: str, cached: tuple[str, dict[str, object]] | None, why: str, *,
              error: Exception) -> ProvisioningLoad:
    if cached is None:
        raise error
    try:
        provisioning = validate_provisioning_text(cached[0], source)
    except ConfigError:
        raise error from None
    fetched = cached[1].get("fetched_at")
    fetched_at = float(fetched) if isinstance(fetched, int | float) else 0.0
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(fetched_at))
    return ProvisioningLoad(
        provisioning, source, from_cache=True, fetched_at=fetched_at,
        problem=f"{why}\nUsing the last good provisioning, from {when}.")
