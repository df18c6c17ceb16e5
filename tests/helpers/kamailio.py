"""A real Kamailio (registrar + proxy) for interop tests, run as a plain process.

Each :class:`Kamailio` gets its own runtime directory holding its config, a
db_text subscriber table with digest users, a throwaway test CA and server
certificate for TLS, its pid file, control socket and log. Ports are picked at
run time (other processes may hold 5060/5061); :meth:`Kamailio.restart` keeps
them, so registered phones and live dialogs (Record-Route) point at the same
place afterwards.

What the generated script does (see ``CONFIG`` below, it is commented):
  * REGISTER: digest auth (``www_authorize``) against the subscriber table,
    then ``save("location")``; usrloc is in memory only, so a restart forgets
    every registration.
  * Initial requests from our users (INVITE...): ``proxy_authorize`` (407),
    ``record_route``, ``lookup("location")`` and relay to the registered contact.
  * In-dialog requests: ``loose_route``.
  * TCP/TLS: registrations remember the connection's real source
    (``fix_nated_register``) and Contacts get an alias (``set_contact_alias``),
    so Kamailio reaches a phone over the connection the phone opened (a
    phone's TLS listener usually has no server certificate to accept new ones).
  * The log (``rundir/kamailio.log``) has one ``REQ``/``RELAY``/``RPL`` line per
    message handled: read it when a test fails.

Phones use it as registrar and outbound proxy (:meth:`Kamailio.account_params`):
the AOR ``sip:1001@127.0.0.1`` alone would send requests to port 5060.

  * Presence server (``presence`` + ``presence_xml``): PUBLISH and SUBSCRIBE
    for our users' AORs (``Event: presence``) are handled by Kamailio itself
    (after digest auth), which NOTIFYs every watcher; subscriptions are
    authorised without XCAP rules (``force_active``). Presentities and watchers
    live in db_text tables next to the subscriber table.
  * Group URIs (:attr:`Kamailio.groups`, e.g. ``sip:support@127.0.0.1``) fork
    an INVITE in parallel to every registered contact of the group's members;
    the first 2xx wins and tm CANCELs the other branches.
  * Resource list server (``rls`` with its integrated XCAP mode, ``pua`` for
    the back-end subscriptions): a SUBSCRIBE with ``Supported: eventlist`` to a
    list URI (:attr:`Kamailio.lists`, e.g. ``sip:support-list@127.0.0.1``, one
    per group by default) is answered by the RLS, which subscribes to every
    member's presentity itself (back-end SUBSCRIBEs from Kamailio's own UDP
    port to itself) and NOTIFYs the watcher with RLMI (RFC 4662) in
    ``multipart/related``. The lists live as ``rls-services`` documents
    (RFC 4826) in the db_text ``xcap`` table, one per watcher user (RLS looks
    the service URI up in the subscriber's own document). Anything else (an
    unknown list, no ``eventlist``) goes on to the presence server.
    ``rls=False`` leaves the modules out (a server that offers no lists).
    RLS sends its NOTIFYs from a timer every ``waitn_time`` seconds (1 here,
    Kamailio's minimum), so a change reaches list watchers within about a
    second, where a per-agent watcher is notified at once.

Requires Debian's ``kamailio``, ``kamailio-tls-modules`` and
``kamailio-presence-modules`` packages (``kamcmd`` comes with ``kamailio``)
and ``openssl``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.kamailio_config import (
    CONFIG,
    PRESENCE_TABLES,
    TLS_CONFIG,
    XCAP_RLS_SERVICES,
    dbtext,
    group_routes,
    rls_services,
)
from tests.helpers.ports import HOST, free_ports, port_is_free

KAMAILIO = "kamailio"
KAMCMD = "kamcmd"
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
               "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

DEFAULT_USERS: dict[str, str] = {
    "1001": "secret-1001",
    "1002": "secret-1002",
    "1003": "secret-1003",
    # Customers' phones (baresip, linphone, sipp) registered as users too.
    "2001": "secret-2001",
    "2002": "secret-2002",
}

# Group URIs forked by the proxy: sip:<group>@<domain> rings every member.
DEFAULT_GROUPS: dict[str, list[str]] = {"support": ["1002", "1003"]}

def kamailio_binary() -> str | None:
    """Path of the kamailio binary, or None when it is not installed."""
    return shutil.which(KAMAILIO) or next(
        (p for p in ("/usr/sbin/kamailio", "/usr/local/sbin/kamailio") if os.access(p, os.X_OK)),
        None,
    )


def module_dir() -> str:
    for d in MODULE_DIRS:
        if Path(d, "tls.so").exists():
            return d
    raise RuntimeError(f"no Kamailio module directory with tls.so in {MODULE_DIRS} "
                       "(apt-get install kamailio kamailio-tls-modules)")


# -- TLS test PKI ---------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A test CA and a server certificate it signed (for 127.0.0.1 and localhost)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_test_pki(directory: Path, host: str = HOST) -> TlsFiles:
    """Create (or reuse) a self-signed CA and a server cert in ``directory`` with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if all(p.exists() for p in (files.ca_cert, files.server_cert, files.server_key)):
        return files
    ca_key = directory / "ca.key"
    csr = directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth, clientAuth\n"
        f"subjectAltName = IP:{host}, DNS:localhost\n"
    )

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # RSA 2048 + SHA-256: the pjsua2 wheel bundles OpenSSL 1.0.2, keep to what it knows.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3",
            "-keyout", str(ca_key), "-out", str(files.ca_cert),
            "-subj", "/O=Softphone tests/CN=Softphone Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-keyout", str(files.server_key), "-out", str(csr),
            "-subj", f"/O=Softphone tests/CN={host}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(files.ca_cert), "-CAkey", str(ca_key),
            "-CAcreateserial", "-sha256", "-days", "3", "-extfile", str(ext),
            "-out", str(files.server_cert))
    return files


# -- the server -------------------------------------------------------------------------


class KamailioError(RuntimeError):
    pass


class Kamailio:
    """One Kamailio process with its own runtime dir, users, certificates and ports.

    Attributes:
        rundir: config, db, certificates, pid file, control socket and log live here.
        host: the address it listens on and the domain of its users' AORs.
        users: user name -> password of the digest subscribers.
        groups: group name -> member users (``sip:<group>@host`` forks to them).
        lists: list name -> member users (``sip:<list>@host`` is an RLS list;
            by default ``<group>-list`` for every group).
        rls: whether the resource list server is loaded.
        udp_port / tcp_port / tls_port: chosen at the first :meth:`start`.
        tls: the test PKI (``tls.ca_cert`` is what a phone must trust).
    """

    def __init__(self, rundir: Path, *, users: dict[str, str] | None = None,
                 host: str = HOST, tls: TlsFiles | None = None, debug: int = 2,
                 groups: dict[str, list[str]] | None = None,
                 lists: dict[str, list[str]] | None = None, rls: bool = True) -> None:
        self.rundir = rundir
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.groups = {k: list(v) for k, v in
                       (DEFAULT_GROUPS if groups is None else groups).items()}
        self.lists = ({f"{g}-list": list(m) for g, m in self.groups.items()} if lists is None
                      else {k: list(v) for k, v in lists.items()})
        self.rls = rls
        self.debug = debug
        self.tls = tls
        self.udp_port = 0
        self.tcp_port = 0
        self.tls_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = rundir / "kamailio.log"
        self.cfg_path = rundir / "kamailio.cfg"
        self.pid_path = rundir / "kamailio.pid"
        self.ctl_socket = rundir / "kamailio_ctl"
        self.db_dir = rundir / "db"
        self.starts = 0

    # -- addresses for phones ---------------------------------------------------

    @property
    def domain(self) -> str:
        return self.host

    def aor(self, user: str) -> str:
        """The address of record of ``user``, e.g. ``sip:1001@127.0.0.1``."""
        return f"sip:{user}@{self.host}"

    def group_uri(self, group: str) -> str:
        """The URI that forks to ``group``'s members, e.g. ``sip:support@127.0.0.1``."""
        if group not in self.groups:
            raise KeyError(f"no group {group!r} in {sorted(self.groups)}")
        return f"sip:{group}@{self.host}"

    def list_uri(self, name: str) -> str:
        """The resource list URI ``name`` (e.g. ``sip:support-list@127.0.0.1``);
        any name is accepted, so a test can ask for a list the server lacks."""
        return f"sip:{name}@{self.host}"

    def port(self, transport: str) -> int:
        return {"udp": self.udp_port, "tcp": self.tcp_port, "tls": self.tls_port}[transport]

    def registrar(self, transport: str = "udp") -> str:
        """The registrar URI for ``transport`` (``udp``, ``tcp`` or ``tls``)."""
        return f"sip:{self.host}:{self.port(transport)};transport={transport}"

    def outbound_proxy(self, transport: str = "udp") -> str:
        """This server as a phone's outbound proxy (loose routing)."""
        return f"{self.registrar(transport)};lr"

    def account_params(self, user: str, transport: str = "udp", *, password: str | None = None,
                       expires: int = 60) -> dict[str, object]:
        """Parameters of the softphone's ``account.register`` for ``user``.

        The AOR domain is the bare host (``sip:1001@127.0.0.1``), which resolves
        to port 5060, not to us: Kamailio is also the outbound proxy, the way a
        PBX's SRV record would send every request there.
        """
        return {
            "uri": self.aor(user),
            # The bare domain, like a PBX's SRV name; the proxy below is where
            # requests really go. (A port here would also stop pjsua from
            # matching the domain of colleagues' URIs to this account.)
            "registrar": f"sip:{self.host};transport={transport}",
            "proxy": self.outbound_proxy(transport),
            "username": user,
            "password": self.users[user] if password is None else password,
            "realm": self.host,
            "transport": transport,
            "expires": expires,
        }

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Kamailio:
        """Start in the background and return once it answers on every port.

        The first start picks free ports; later starts (see :meth:`restart`) reuse them.
        """
        if self.proc is not None and self.proc.poll() is None:
            raise KamailioError("Kamailio is already running")
        binary = kamailio_binary()
        if binary is None:
            raise KamailioError("kamailio is not installed")
        if not self.udp_port:
            self.udp_port, self.tls_port = free_ports(2)
            self.tcp_port = self.udp_port  # like 5060: one number for UDP and TCP
        if self.tls is None:
            self.tls = make_test_pki(self.rundir / "tls", self.host)
        self._write_files()
        # The previous instance's sockets may linger for a moment: retry the bind.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self._spawn(binary)
            try:
                self._wait_ready(deadline)
                return self
            except _BindFailed:
                if time.monotonic() > deadline:
                    raise KamailioError("Kamailio could not bind its ports:\n"
                                        + self.log_tail()) from None
                time.sleep(0.1)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait for the exit; returns the exit status (None if not running)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # Its children are in its process group (see _spawn).
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._reap_group(proc.pid)
        return proc.returncode

    def restart(self) -> Kamailio:
        """Stop and start again on the same ports (registrations are lost)."""
        self.stop()
        self.wait_ports_free()
        return self.start()

    def wait_ports_free(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self._ports_free():
            if time.monotonic() > deadline:
                raise KamailioError(f"Kamailio's ports are still in use {timeout} s after stop")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- inspection -------------------------------------------------------------

    def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        """Run ``kamcmd`` against this instance's control socket."""
        out = subprocess.run([KAMCMD, "-s", f"unix:{self.ctl_socket}", *args],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise KamailioError(f"kamcmd {' '.join(args)} failed: {out.stderr or out.stdout}")
        return out.stdout

    def contacts(self, user: str) -> list[str]:
        """Registered contact URIs of ``user`` (from usrloc via ``ul.lookup``)."""
        try:
            text = self.kamcmd("ul.lookup", "location", f"{user}@{self.host}")
        except KamailioError as exc:
            if "Not Found" in str(exc) or "AOR not found" in str(exc):
                return []
            raise
        return [line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.strip().startswith("Address:")]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    # -- internals --------------------------------------------------------------

    def _ports_free(self) -> bool:
        return (port_is_free(self.udp_port, udp=True, tcp=False, host=self.host)
                and port_is_free(self.tcp_port, udp=False, tcp=True, host=self.host)
                and port_is_free(self.tls_port, udp=False, tcp=True, host=self.host))

    def _spawn(self, binary: str) -> None:
        self.starts += 1
        for stale in (self.pid_path, self.ctl_socket):
            stale.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        cmd = [binary, "-f", str(self.cfg_path), "-DD", "-E", "-Y", str(self.rundir),
               "-P", str(self.pid_path), "-m", "64", "-M", "8"]
        # Own process group: a crashed test can still take every child down.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.rundir,
                                     start_new_session=True)
        log.close()

    def _wait_ready(self, deadline: float) -> None:
        """Ready = an OPTIONS over UDP gets 200 and the TCP and TLS ports accept."""
        assert self.proc is not None
        while True:
            code = self.proc.poll()
            if code is not None:
                this_run = self.log_text().rsplit(f"===== start #{self.starts} =====", 1)[-1]
                if "Address already in use" in this_run:
                    raise _BindFailed
                raise KamailioError(f"Kamailio exited with {code} at start:\n{self.log_tail()}")
            if self._answers_options() and all(
                _tcp_accepts(self.host, p) for p in (self.tcp_port, self.tls_port)
            ):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise KamailioError(f"Kamailio not ready in {START_TIMEOUT} s:\n"
                                    + self.log_tail())

    def _answers_options(self) -> bool:
        call_id = uuid.uuid4().hex
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((self.host, 0))
            lport = s.getsockname()[1]
            msg = (
                f"OPTIONS sip:{self.host}:{self.udp_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.host}:{lport};branch=z9hG4bK{call_id[:16]};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@{self.host}>;tag={call_id[:8]}\r\n"
                f"To: <sip:{self.host}:{self.udp_port}>\r\n"
                f"Call-ID: {call_id}\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            s.settimeout(0.2)
            try:
                s.sendto(msg.encode(), (self.host, self.udp_port))
                data = s.recv(65535)
            except OSError:  # timeout, or ICMP port unreachable before it binds
                return False
        return data.startswith(b"SIP/2.0 200")

    def _reap_group(self, pgid: int) -> None:
        """Wait until no process of Kamailio's group is left (children exit after main)."""
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def _write_files(self) -> None:
        assert self.tls is not None
        self.db_dir.mkdir(exist_ok=True)
        (self.db_dir / "version").write_text(
            "id(int,auto) table_name(string) table_version(int) \n"
            "0:version:1\n0:subscriber:7\n"
            + "".join(f"0:{name}:{version}\n"
                      for name, (version, _) in PRESENCE_TABLES.items())
        )
        for name, (_, header) in PRESENCE_TABLES.items():
            (self.db_dir / name).write_text(header + "\n")
        rows = "".join(f"{i}:{dbtext(u)}:{dbtext(self.host)}:{dbtext(p)}::\n"
                       for i, (u, p) in enumerate(self.users.items(), start=1))
        (self.db_dir / "subscriber").write_text(
            "id(int,auto) username(string) domain(string) password(string) "
            "ha1(string,null) ha1b(string,null) \n" + rows
        )
        # Every user's rls-services document holds every list.
        doc = rls_services(self.lists, self.host)
        xcap_rows = "".join(
            f"{i}:{dbtext(u)}:{dbtext(self.host)}:{dbtext(doc)}:{XCAP_RLS_SERVICES}:"
            f"etag{i}:0:{dbtext(f'/rls-services/users/sip:{u}@{self.host}/index')}:0\n"
            for i, u in enumerate(self.users, start=1))
        (self.db_dir / "xcap").write_text(PRESENCE_TABLES["xcap"][1] + "\n" + xcap_rows)
        tls_cfg = self.rundir / "tls.cfg"
        tls_cfg.write_text(TLS_CONFIG.format(cert=self.tls.server_cert,
                                              key=self.tls.server_key))
        values = {
            "DEBUG": str(self.debug),
            "HOST": self.host,
            "UDP_PORT": str(self.udp_port),
            "TCP_PORT": str(self.tcp_port),
            "TLS_PORT": str(self.tls_port),
            "MPATH": module_dir(),
            "CTL_SOCKET": str(self.ctl_socket),
            "DB_URL": f"text://{self.db_dir}",
            "TLS_CFG": str(tls_cfg),
            "GROUP_ROUTES": group_routes(self.groups),
        }
        text = CONFIG
        # "#!define WITH_RLS" turns on the rls parts of the script.
        text = text.replace("@@RLS_DEFINE@@", "#!define WITH_RLS" if self.rls else "")
        for key, value in values.items():
            text = text.replace(f"@@{key}@@", value)
        self.cfg_path.write_text(text)


class _BindFailed(Exception):
    pass


def _tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


