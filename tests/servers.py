"""Real transports for the remote tests: Apache + `git http-backend` with basic auth, OpenSSH on
a loopback port, a fault-injecting TCP proxy, and a pre-receive hook that refuses the bus refs.

Invariants:
- Every server listens on 127.0.0.1 only, on a free port, and keeps its config, keys, logs and
  pid file in a temporary directory of its own (`server.dir`, unique, on its command line).
  `stop()` ends the server and every process it started (found through /proc before the
  server is stopped, so sshd sessions, which leave sshd's process group, are found too), then
  the process group; nothing is left behind (`processes_mentioning(server.dir)` is empty).
- HTTP users: `writer` may fetch and push; `reader` may fetch and gets 403 on
  `git-receive-pack` (as a forge answers a read-only token); a wrong password gets 401.
  Under /git/ every request needs a user; under /anon/ reads are anonymous and pushes need
  `writer`.  Passwords are in `HttpServer.USERS`; the htpasswd file holds `{SHA}` hashes.
- Apache as root: Apache will not run its children (and so the CGI) as root ("User root" is
  refused), and a child running as www-data can neither enter pytest's 0700 temp dirs nor write
  the root-owned bare repository (and git refuses a repository owned by another user).  So as
  root Apache starts in a user namespace of its own (`unshare --user --map-user=<www-data uid>`):
  inside, it is an ordinary user and never switches users; outside, the kernel sees root, so it
  reads and writes the served tree as root and the files it creates belong to root.  Not root:
  Apache runs as the current user, which owns the tree.  Nothing is chown'ed.
- SSH: sshd runs as the current user (root in CI: `PermitRootLogin prohibit-password`,
  /run/sshd created for privilege separation) and logs that user in with a generated key; a
  second generated key is not authorised ("Permission denied (publickey)").
- Credentials: `HttpServer.clone_config` gives each clone a credential store file of its own
  (`credential.helper=store --file <clone>.creds`, beside the clone, since `git clone` refuses
  a non-empty target); URLs never carry a password.  A shared store would be erased for every
  clone when git rejects a credential once (GIT-FACTS.md).
- The proxy's randomness comes from its seed; its connections and waits are bounded.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import selectors
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from base64 import b64encode
from collections.abc import Callable
from hashlib import sha1
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
APACHE = Path("/usr/sbin/apache2")
APACHE_MODULES = Path("/usr/lib/apache2/modules")
SSHD = Path("/usr/sbin/sshd")
# `git clone -c` options for a clone, as a function of the clone's path.
CloneConfig = Callable[[Path], dict[str, str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def missing(kind: str) -> str | None:
    """Why the `http` or `ssh` server cannot run here, or None when it can."""
    if kind == "http":
        if not APACHE.exists():
            return f"{APACHE} is not installed (apt-get install apache2)"
        if not http_backend().exists():
            return f"{http_backend()} is missing"
        if os.geteuid() == 0 and not _userns_works():
            return "running as root and `unshare --user` is not permitted here"
        return None
    for tool in (str(SSHD), "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-server)"
    return None


def http_backend() -> Path:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True)
    return Path(exec_path.stdout.strip()) / "git-http-backend"


def _userns_works() -> bool:
    argv = ["unshare", "--user", *_userns_map(), "true"]
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _userns_map() -> list[str]:
    try:
        uid, gid = pwd.getpwnam("www-data")[2:4]
    except KeyError:
        uid, gid = 1000, 1000
    return [f"--map-user={uid}", f"--map-group={gid}"]


# -- processes -------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    if fields[0] == "Z":  # a zombie has ended; only its parent's wait is missing
        return None
    return int(fields[1]), int(fields[19])


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def process_tree(root: int) -> dict[int, int]:
    """Every live descendant of `root` (and root), as pid -> start time."""
    parent: dict[int, tuple[int, int]] = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st is not None:
            parent[pid] = st
    out: dict[int, int] = {}
    if root in parent:
        out[root] = parent[root][1]
    grew = True
    while grew:  # bounded: each pass adds at least one pid or stops
        grew = False
        for pid, (ppid, start) in parent.items():
            if ppid in out and pid not in out:
                out[pid] = start
                grew = True
    return out


def alive(tree: dict[int, int]) -> list[int]:
    """The pids of `tree` still running as the same processes (a reused pid does not count)."""
    return [pid for pid, start in tree.items() if (st := _stat(pid)) and st[1] == start]


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (not this one)."""
    out = []
    for pid in _all_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmdline and pid != os.getpid() and _stat(pid) is not None:
            out.append(pid)
    return out


def _signal(pid: int, sig: int, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """End a server started by a test: terminate, then kill if it lingers; close its pipe."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.02)
    text = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"{what} did not start on port {port} (exit {proc.poll()}):\n{text}")


class _Server:
    """A server process in a temp dir of its own, started in a new session, stopped by PID."""

    kind = "server"

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"repobus-{self.kind}-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.tree: dict[int, int] = {}

    def _spawn(self, argv: list[str], log: Path) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        try:
            wait_for_port(self.port, self.proc, log, self.kind)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """End the server, everything it started, and its process group; remove its dir."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self.tree = process_tree(proc.pid)
            _signal(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            for pid in alive(self.tree):
                _signal(pid, signal.SIGKILL)
            _signal(proc.pid, signal.SIGKILL, group=True)
            proc.wait(10)
            self._reap(self.tree)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _reap(tree: dict[int, int]) -> None:
        deadline = time.monotonic() + 10  # SIGKILL is not instant; our own children are waited
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.02)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()  # removes the temp dir even when the server never ran
            raise
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError


# -- HTTP ------------------------------------------------------------------------------------

_MODULES: tuple[str, ...] = ("mpm_prefork", "authn_core", "authn_file", "authz_core")
_MODULES += ("authz_user", "auth_basic", "alias", "env", "cgi")
# Pushing is `GET info/refs?service=git-receive-pack` then `POST .../git-receive-pack`.
_PUSH = '"%{QUERY_STRING} =~ /service=git-receive-pack/ || %{REQUEST_URI} =~ m#/git-receive-pack$#"'


def _location(path: str, htpasswd: Path, reads: str) -> str:
    # AuthzSendForbiddenOnFailure: a known user who may not push gets 403, not a new 401.
    return f"""<Location {path}>
  AuthType Basic
  AuthName "repobus test"
  AuthBasicProvider file
  AuthUserFile {htpasswd}
  AuthzSendForbiddenOnFailure On
  <If {_PUSH}>
    Require user writer
  </If>
  <Else>
    Require {reads}
  </Else>
</Location>
"""


class HttpServer(_Server):
    """Apache serving every repository under `base` with `git http-backend` (see the module
    docstring for users and locations)."""

    kind = "httpd"
    USERS = {"writer": "writer-secret", "reader": "reader-secret"}

    def url(self, repo: str = "bus.git", *, anonymous_reads: bool = False, port: int = 0) -> str:
        """`port`: another port that reaches this server (a FaultProxy)."""
        where = "anon" if anonymous_reads else "git"
        return f"http://{HOST}:{port or self.port}/{where}/{repo}"

    @property
    def url_prefix(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def clone_config(self, clone: Path, user: str = "writer", port: int = 0) -> dict[str, str]:
        """Config for `git clone -c`: a credential store of the clone's own holding `user`."""
        return {
            "credential.helper": "store --file " + shlex.quote(str(self.store(clone, user, port)))
        }

    def store(self, clone: Path, user: str, port: int = 0, password: str | None = None) -> Path:
        creds = clone.with_name(clone.name + ".creds")
        pw = self.USERS[user] if password is None else password
        creds.write_text(f"http://{user}:{pw}@{HOST}:{port or self.port}\n")
        creds.chmod(0o600)
        return creds

    def start(self) -> None:
        conf = self._write_config()
        argv = [str(APACHE), "-f", str(conf), "-DFOREGROUND"]
        if os.geteuid() == 0:
            argv = ["unshare", "--user", *_userns_map(), *argv]
        self._spawn(argv, self.dir / "error.log")

    def _write_config(self) -> Path:
        htpasswd = self.dir / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{u}:{{SHA}}{b64encode(sha1(p.encode()).digest()).decode()}\n"
                for u, p in self.USERS.items()
            )
        )
        modules = "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in _MODULES)
        backend = http_backend()
        conf = self.dir / "httpd.conf"
        conf.write_text(
            f"""ServerRoot {self.dir}
ServerName {HOST}
Listen {HOST}:{self.port}
PidFile {self.dir}/httpd.pid
ErrorLog {self.dir}/error.log
DefaultRuntimeDir {self.dir}
LogLevel warn
{modules}StartServers 2
MinSpareServers 1
MaxSpareServers 8
MaxRequestWorkers 32
SetEnv GIT_PROJECT_ROOT {self.base}
SetEnv GIT_HTTP_EXPORT_ALL 1
ScriptAlias /git/ {backend}/
ScriptAlias /anon/ {backend}/
<Directory {backend.parent}>
  Options +ExecCGI
  Require all granted
</Directory>
{_location("/git/", htpasswd, "valid-user")}{_location("/anon/", htpasswd, "all granted")}"""
        )
        return conf


# -- SSH -------------------------------------------------------------------------------------


class SshServer(_Server):
    """sshd on 127.0.0.1 letting the current user in with `self.key` (not `self.other_key`)."""

    kind = "sshd"

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.key = self.dir / "user_key"
        self.other_key = self.dir / "other_key"

    def url(self, repo: str = "bus.git", *, port: int = 0) -> str:
        return f"ssh://{self.user}@{HOST}:{port or self.port}{self.base.resolve() / repo}"

    @property
    def url_prefix(self) -> str:
        return f"ssh://{self.user}@{HOST}:{self.port}/"

    def ssh_command(self, key: Path | None = None, port: int = 0) -> str:
        """The `core.sshCommand` value; `-F /dev/null` and IdentitiesOnly keep the user's own
        ssh config and keys out."""
        return shlex.join(
            ["ssh", "-F", "/dev/null", "-i", str(key or self.key), "-p", str(port or self.port)]
            + [
                f"-o{o}"
                for o in (
                    "IdentitiesOnly=yes",
                    "StrictHostKeyChecking=no",
                    "UserKnownHostsFile=/dev/null",
                    "BatchMode=yes",
                    "LogLevel=ERROR",
                )
            ]
        )

    def clone_config(self, clone: Path) -> dict[str, str]:
        return {"core.sshCommand": self.ssh_command()}

    def start(self) -> None:
        for name in ("host_key", "user_key", "other_key"):
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    name,
                    "-f",
                    str(self.dir / name),
                ],
                check=True,
                capture_output=True,
            )
        (self.dir / "authorized_keys").write_text((self.dir / "user_key.pub").read_text())
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation chroot
        conf = self.dir / "sshd_config"
        conf.write_text(
            f"""ListenAddress {HOST}:{self.port}
HostKey {self.dir}/host_key
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
MaxStartups 64
MaxSessions 64
"""
        )
        log = self.dir / "sshd.log"
        self._spawn([str(SSHD), "-D", "-f", str(conf), "-E", str(log)], log)


# -- hooks and credentials -------------------------------------------------------------------


def install_refusing_hook(bare: Path, pattern: str = "refs/repobus/") -> Path:
    """A pre-receive hook refusing every push that touches a ref under `pattern`, saying so
    (hook output reaches the client as `remote:` lines)."""
    hook = Path(bare) / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(
        f"""#!/bin/sh
# installed by tests/servers.py
status=0
while read -r old new ref; do
  case "$ref" in
    {shlex.quote(pattern)}*) echo "$ref: {pattern}* is not allowed on this host"; status=1 ;;
  esac
done
exit $status
"""
    )
    hook.chmod(0o755)
    return hook


def remove_refusing_hook(bare: Path) -> None:
    (Path(bare) / "hooks" / "pre-receive").unlink(missing_ok=True)


def clone_args(options: dict[str, CloneConfig], url: str, clone: Path) -> list[str]:
    """The `git clone` options for `url` (the longest registered prefix decides), each kept in
    the clone's config."""
    prefixes = [p for p in options if url.startswith(p)]
    if not prefixes:
        return []
    config = options[max(prefixes, key=len)](clone)
    return [arg for k, v in config.items() for arg in ("-c", f"{k}={v}")]


# -- fault proxy -----------------------------------------------------------------------------


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of `target_port`, with switchable faults:
    `pass_through()`; `reset(p)`: each new connection, with probability p, is reset (RST) after
    a random number of bytes below `max_offset`; `stall(seconds)`: nothing is forwarded (the
    sockets stay open) for that long, or until `pass_through()` when None; `kill()`: close the
    listener and every connection at once.  Runs in threads of this process."""

    def __init__(self, target_port: int, seed: int = 0, max_connections: int = 64) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.max_connections = max_connections
        self.rng = random.Random(seed)
        self.resets = 0  # connections reset so far
        self.connections = 0  # connections accepted so far
        self._p = 0.0
        self._max_offset = 0
        self._stall_until = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None

    def start(self) -> FaultProxy:
        self._listener = socket.create_server((HOST, self.port))
        self._listener.settimeout(0.1)
        self._spawn_thread(self._accept_loop)
        return self

    def pass_through(self) -> None:
        with self._lock:
            self._p, self._stall_until = 0.0, 0.0

    def reset(self, p: float, max_offset: int = 4096) -> None:
        with self._lock:
            self._p, self._max_offset = p, max_offset

    def stall(self, seconds: float | None) -> None:
        with self._lock:
            self._stall_until = float("inf") if seconds is None else time.monotonic() + seconds

    def kill(self) -> None:
        """Close the listener and every connection mid-transfer; the proxy stays dead."""
        self._stopped.set()
        with self._lock:
            socks = list(self._socks) + ([self._listener] if self._listener else [])
        for s in socks:
            _close(s)
        for t in self._threads:
            t.join(10)

    stop = kill

    def _spawn_thread(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        with self._lock:
            if len(self._socks) >= 2 * self.max_connections or self._stopped.is_set():
                client.close()
                return
            self.connections += 1
            doomed = self.rng.random() < self._p
            offset = self.rng.randrange(max(self._max_offset, 1)) if doomed else -1
            self._socks.add(client)
        self._spawn_thread(self._serve, client, offset)

    def _serve(self, client: socket.socket, reset_at: int) -> None:
        upstream: socket.socket | None = None
        try:
            upstream = socket.create_connection((HOST, self.target_port), timeout=10)
            with self._lock:
                self._socks.add(upstream)
            self._pump(client, upstream, reset_at)
        except (OSError, ValueError):  # kill() closed a socket under us (ValueError: fd -1)
            pass
        finally:
            for s in (client, upstream):
                if s is not None:
                    _close(s)
                    with self._lock:
                        self._socks.discard(s)

    def _pump(self, client: socket.socket, upstream: socket.socket, reset_at: int) -> None:
        """Forward both ways until either side closes; `reset_at` >= 0: RST after that many
        bytes."""
        peer = {client: upstream, upstream: client}
        sent = 0
        with selectors.DefaultSelector() as sel:
            for s in peer:
                s.settimeout(30)  # bounds a blocked sendall
                sel.register(s, selectors.EVENT_READ)
            while not self._stopped.is_set():
                if time.monotonic() < self._stall_until:
                    time.sleep(0.05)
                    continue
                for key, _ in sel.select(0.1):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    if 0 <= reset_at < sent + len(data):
                        peer[src].sendall(data[: reset_at - sent])
                        self._rst(client, upstream)
                        return
                    peer[src].sendall(data)
                    sent += len(data)

    def _rst(self, *socks: socket.socket) -> None:
        with self._lock:
            self.resets += 1
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it; close alone does not
    s.close()
