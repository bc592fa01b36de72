"""``jts-broker cache info|clear``: what the offline cache file holds, and clearing it.

The file is the one the config names (``[cache] path``), else the default in the user cache
folder; ``--path`` picks another.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jts_broker.client.config_file import default_cache_path, load_settings
from jts_broker.client.offline_cache import clear, summarize
from jts_broker.domain.errors import ConfigurationError

from .args import days_arg
from .render import console, dump_json, table


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("cache", help="the offline cache file: what it holds, clearing it")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (("info", "servers cached, rows and age"), ("clear", "delete cached data (it is fetched again live)")):
        a = actions.add_parser(name, help=help_text, parents=[common])
        a.add_argument("--path", type=Path, help="the cache file (default: the config's [cache] path, else the user cache folder)")
    clear_parser = actions.choices["clear"]
    clear_parser.add_argument("--scope", metavar="NAME",
                              help="only this server's data: a broker of the config file, or a scope as `cache info` names it (kis@10.0.0.5:50551)")
    clear_parser.add_argument("--older-than", type=days_arg, metavar="DAYS", help="only data stored more than DAYS days ago")


def cache_path(args: argparse.Namespace) -> Path:
    """``--path``, else the config's cache file, else the default (when no config is found)."""
    if args.path is not None:
        return Path(args.path).expanduser()
    try:
        settings = load_settings(args.config)
    except ConfigurationError as error:
        if error.code != "CONFIG_NOT_FOUND" or args.config is not None:
            raise
        return default_cache_path()
    if settings.cache_path is None:
        raise ConfigurationError(f"the offline cache is disabled in {settings.source} ([cache] enabled = false); pass --path to inspect a file",
                                 code="CACHE_DISABLED")
    return settings.cache_path


def _scope(args: argparse.Namespace) -> str | None:
    """``--scope`` as the cache names it: a broker of the config file by its name, or the scope itself."""
    if args.scope is None:
        return None
    try:
        brokers = load_settings(args.config).brokers
    except ConfigurationError:
        return str(args.scope)  # no config: only cache scopes can be meant
    return brokers[args.scope].scope if args.scope in brokers else str(args.scope)


def run(args: argparse.Namespace) -> int:
    path = cache_path(args)
    if args.action == "clear":
        scope = _scope(args)
        held = [s.scope for s in summarize(path)]
        if scope is not None and scope not in held:
            named = f" ({scope})" if scope != args.scope else ""
            print(f"{path}: nothing cached for {args.scope}{named}; nothing deleted (cached: {', '.join(held) or 'nothing'})")
            return 0
        deleted = clear(path, scope=scope, older_than_s=args.older_than * 86400 if args.older_than is not None else None)
        print(f"{path}: deleted {deleted} rows" + (f" of {args.scope}" if scope is not None else ""))
        return 0
    scopes = summarize(path)
    if args.json:
        print(dump_json({"path": str(path), "bytes": path.stat().st_size if path.exists() else 0, "scopes": scopes}))
    elif not scopes:
        console().print(f"{path}: {'empty' if path.exists() else 'no cache file yet'}")
    else:
        title = f"{path} ({path.stat().st_size / 1e6:.1f} MB)"
        console().print(table(title, scopes, ["scope", "entries", "candles", "oldest", "newest"], numeric=["entries", "candles"]))
    return 0
