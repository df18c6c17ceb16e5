"""A real Kamailio (registrar + proxy) for interop tests, run as a plain process.

Each :class:`Kamailio` gets its own runtime directory holding its config, a
db_text subscriber table with digest users, a throwaway test CA and server
certificate for TLS, its pid file, control socket and log. Ports are picked at
run time (other processes may hold 5060/5061); :meth:`Kamailio.restart` keeps
them, so registered phones and live dialogs (Record-Route) point at the same
place afterwards.

What the generated script does (see ``_CONFIG`` below, it is commented):
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

# RLS documents (rls-services, RFC 4826) are doc_type 8 in the xcap table.
_XCAP_RLS_SERVICES = 8

# db_text tables of the presence modules (schemas as in /usr/share/kamailio/dbtext).
_PRESENCE_TABLES: dict[str, tuple[int, str]] = {
    "presentity": (5, "id(int,auto) username(string) domain(string) event(string) etag(string) "
                      "expires(int) received_time(int) body(string) sender(string) priority(int) "
                      "ruid(string,null) "),
    "active_watchers": (12, "id(int,auto) presentity_uri(string) watcher_username(string) "
                            "watcher_domain(string) to_user(string) to_domain(string) "
                            "event(string) event_id(string,null) to_tag(string) "
                            "from_tag(string) callid(string) local_cseq(int) remote_cseq(int) "
                            "contact(string) record_route(string,null) expires(int) "
                            "status(int) reason(string,null) version(int) "
                            "socket_info(string) local_contact(string) from_user(string) "
                            "from_domain(string) updated(int) updated_winfo(int) flags(int) "
                            "user_agent(string,null) "),
    "watchers": (3, "id(int,auto) presentity_uri(string) watcher_username(string) "
                    "watcher_domain(string) event(string) status(int) reason(string,null) "
                    "inserted_time(int) "),
    "xcap": (4, "id(int,auto) username(string) domain(string) doc(string) doc_type(int) "
                "etag(string) source(int) doc_uri(string) port(int) "),
    # pua (back-end subscriptions of the RLS) and rls's own tables.
    "pua": (7, "id(int,auto) pres_uri(string) pres_id(string) event(int) expires(int) "
               "desired_expires(int) flag(int) etag(string) tuple_id(string,null) "
               "watcher_uri(string) call_id(string) to_tag(string) from_tag(string) "
               "cseq(int) record_route(string,null) contact(string) remote_contact(string) "
               "version(int) extra_headers(string) "),
    "rls_presentity": (1, "id(int,auto) rlsubs_did(string) resource_uri(string) "
                          "content_type(string) presence_state(string) expires(int) "
                          "updated(int) auth_state(int) reason(string) "),
    "rls_watchers": (3, "id(int,auto) presentity_uri(string) to_user(string) "
                        "to_domain(string) watcher_username(string) watcher_domain(string) "
                        "event(string) event_id(string,null) to_tag(string) from_tag(string) "
                        "callid(string) local_cseq(int) remote_cseq(int) contact(string) "
                        "record_route(string,null) expires(int) status(int) reason(string) "
                        "version(int) socket_info(string) local_contact(string) "
                        "from_user(string) from_domain(string) updated(int) "),
}


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
                      for name, (version, _) in _PRESENCE_TABLES.items())
        )
        for name, (_, header) in _PRESENCE_TABLES.items():
            (self.db_dir / name).write_text(header + "\n")
        rows = "".join(f"{i}:{_dbtext(u)}:{_dbtext(self.host)}:{_dbtext(p)}::\n"
                       for i, (u, p) in enumerate(self.users.items(), start=1))
        (self.db_dir / "subscriber").write_text(
            "id(int,auto) username(string) domain(string) password(string) "
            "ha1(string,null) ha1b(string,null) \n" + rows
        )
        # Every user's rls-services document holds every list.
        doc = _rls_services(self.lists, self.host)
        xcap_rows = "".join(
            f"{i}:{_dbtext(u)}:{_dbtext(self.host)}:{_dbtext(doc)}:{_XCAP_RLS_SERVICES}:"
            f"etag{i}:0:{_dbtext(f'/rls-services/users/sip:{u}@{self.host}/index')}:0\n"
            for i, u in enumerate(self.users, start=1))
        (self.db_dir / "xcap").write_text(_PRESENCE_TABLES["xcap"][1] + "\n" + xcap_rows)
        tls_cfg = self.rundir / "tls.cfg"
        tls_cfg.write_text(_TLS_CONFIG.format(cert=self.tls.server_cert,
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
            "GROUP_ROUTES": _group_routes(self.groups),
        }
        text = _CONFIG
        # "#!define WITH_RLS" turns on the rls parts of the script.
        text = text.replace("@@RLS_DEFINE@@", "#!define WITH_RLS" if self.rls else "")
        for key, value in values.items():
            text = text.replace(f"@@{key}@@", value)
        self.cfg_path.write_text(text)


def _group_routes(groups: dict[str, list[str]]) -> str:
    """Script lines forking ``sip:<group>@DOMAIN`` to the members' contacts.

    The first member found registered becomes the R-URI (``lookup`` with a URI
    argument), the others' contacts are added as further branches
    (``lookup_to_dset``): tm relays to all of them in parallel.
    """
    lines: list[str] = []
    for group, members in groups.items():
        if not group.isalnum() or not all(m.isalnum() for m in members):
            raise ValueError(f"group and member names must be alphanumeric: {group} {members}")
        lines.append(f'\tif ($rU == "{group}") {{')
        lines.append("\t\t$var(found) = 0;")
        for member in members:
            lines.append("\t\tif ($var(found) == 0) {")
            lines.append(f'\t\t\tif (lookup("location", "sip:{member}@DOMAIN")) {{')
            lines.append("\t\t\t\t$var(found) = 1;")
            lines.append("\t\t\t}")
            lines.append("\t\t} else {")
            lines.append(f'\t\t\tlookup_to_dset("location", "sip:{member}@DOMAIN");')
            lines.append("\t\t}")
        lines.append("\t\tif ($var(found) == 0) {")
        lines.append('\t\t\tsl_send_reply("480", "No group member registered");')
        lines.append("\t\t\texit;")
        lines.append("\t\t}")
        lines.append(f'\t\txlog("L_INFO", "GROUP {group}: fork to $ru and $bR\\n");')
        lines.append("\t\troute(RELAY);")
        lines.append("\t}")
    return "\n".join(lines)


def _rls_services(lists: dict[str, list[str]], host: str) -> str:
    """An rls-services document (RFC 4826) with one service per list."""
    services = []
    for name, members in lists.items():
        if not all(part.isalnum() for part in name.split("-")) or not all(
                m.isalnum() for m in members):
            raise ValueError(f"list and member names must be alphanumeric: {name} {members}")
        entries = "".join(f'<rl:entry uri="sip:{m}@{host}"/>' for m in members)
        services.append(f'<service uri="sip:{name}@{host}"><list>{entries}</list>'
                        "<packages><package>presence</package></packages></service>")
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<rls-services xmlns="urn:ietf:params:xml:ns:rls-services" '
            'xmlns:rl="urn:ietf:params:xml:ns:resource-lists">'
            + "".join(services) + "</rls-services>")


class _BindFailed(Exception):
    pass


def _tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _dbtext(value: str) -> str:
    """Escape a value for a db_text row."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("\n", "\\n")


_TLS_CONFIG = """\
# Kamailio's TLS profiles (written by tests/helpers/kamailio.py).
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {cert}
private_key = {key}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""

# Placeholders are @@NAME@@ (Kamailio's own syntax uses $ and braces).
_CONFIG = r"""#!KAMAILIO
#
# Registrar and proxy for the softphone's interop tests.
# Written by tests/helpers/kamailio.py; every run gets its own copy and ports.
@@RLS_DEFINE@@

####### Global parameters ###########################################
debug=@@DEBUG@@
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no

listen=udp:@@HOST@@:@@UDP_PORT@@
listen=tcp:@@HOST@@:@@TCP_PORT@@
listen=tls:@@HOST@@:@@TLS_PORT@@
enable_tls=yes
# No port-less alias for the users' domain (@@HOST@@): the phones live on the
# same address, and their contacts would look like "myself" to loose_route().
# The script compares domains with DOMAIN instead.
#!substdef "!DOMAIN!@@HOST@@!g"

####### Modules #####################################################
mpath="@@MPATH@@"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "ctl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "nathelper.so"
loadmodule "tls.so"
loadmodule "presence.so"
loadmodule "presence_xml.so"
#!ifdef WITH_RLS
loadmodule "pua.so"
loadmodule "rls.so"
#!endif

# kamcmd -s unix:@@CTL_SOCKET@@ ul.dump
modparam("ctl", "binrpc", "unix:@@CTL_SOCKET@@")

modparam("tm", "failure_reply_mode", 3)
modparam("tm", "fr_timer", 30000)
modparam("tm", "fr_inv_timer", 120000)

modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 0)

# Registrations live in memory only: a restart forgets them (tests rely on it).
modparam("usrloc", "db_mode", 0)
modparam("registrar", "method_filtering", 1)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 10)
# Where a TCP/TLS contact really is (set by fix_nated_register, used by lookup).
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")

# Digest users: a db_text table, plain passwords.
modparam("auth_db", "db_url", "@@DB_URL@@")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth_db", "use_domain", 0)

modparam("tls", "config", "@@TLS_CFG@@")

# Lists of thousands make rls-services documents of ~100 KB (one db_text field).
modparam("db_text", "file_buffer_size", 1048576)

# Presence server: presentities and watchers in db_text; every watcher is
# allowed (no XCAP authorisation rules); NOTIFYs come from the UDP socket.
modparam("presence", "db_url", "@@DB_URL@@")
modparam("presence", "server_address", "sip:@@HOST@@:@@UDP_PORT@@")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "max_expires", 3600)
modparam("presence", "min_expires", 10)
modparam("presence", "fetch_rows", 100)
modparam("presence_xml", "db_url", "@@DB_URL@@")
modparam("presence_xml", "force_active", 1)

#!ifdef WITH_RLS
# Resource list server: lists are rls-services documents in the xcap table
# (integrated XCAP, no HTTP); back-end SUBSCRIBEs go through this proxy to the
# presence server above and their NOTIFYs come back to sip:rls@ (this server).
# waitn_time: RLS NOTIFYs leave on a timer of this many seconds (1 = minimum).
modparam("pua", "db_url", "@@DB_URL@@")
modparam("pua", "db_mode", 0)
modparam("rls", "db_url", "@@DB_URL@@")
modparam("rls", "db_mode", 0)
modparam("rls", "integrated_xcap_server", 1)
modparam("rls", "to_presence_code", 10)
modparam("rls", "server_address", "sip:rls@@@HOST@@:@@UDP_PORT@@")
modparam("rls", "outbound_proxy", "sip:@@HOST@@:@@UDP_PORT@@")
modparam("rls", "waitn_time", 1)
modparam("rls", "max_expires", 3600)
# Bigger list states go out in several NOTIFYs (a UDP datagram holds < 64 KiB).
modparam("rls", "max_notify_body_length", 32000)
#!endif

####### Routing logic ###############################################

request_route {
	# One line per request in the log: what came from where.
	xlog("L_INFO", "REQ $rm $ru from $si:$sp/$pr (From $fu, Call-ID $ci)\n");
	route(REQINIT);
	route(NATDETECT);

	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}

	# Retransmissions of a request already being handled.
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}

	route(WITHINDLG);

	### Initial requests from here on.
	remove_hf("Route");
	if (is_method("INVITE")) {
		record_route();
	}

	route(REGISTRAR);
	route(AUTH);

	route(PRESENCE);
	route(URIHEADERS);

	if ($rU == $null) {
		sl_send_reply("484", "Address Incomplete");
		exit;
	}

	route(GROUP);

	if ($rd == "DOMAIN") {
		route(LOCATION);
	}
	route(RELAY);
}

# Sanity checks and the keepalive/readiness probe.
route[REQINIT] {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	if (!sanity_check()) {
		xlog("L_WARN", "malformed request from $si:$sp\n");
		exit;
	}
}

# Phones on TCP/TLS are reached over the connection they opened (their own
# listener may not accept connections: a phone's TLS listener usually has no
# certificate). Registrations remember the real source; other requests get an
# alias in their Contact that handle_ruri_alias() turns back into it.
route[NATDETECT] {
	force_rport();
	if (proto == TCP || proto == TLS) {
		if (is_method("REGISTER")) {
			fix_nated_register();
		} else if (is_present_hf("Contact")) {
			set_contact_alias();
		}
	}
}

# Requests inside a dialog follow the Record-Route set.
route[WITHINDLG] {
	if (!has_totag()) {
		return;
	}
	if (loose_route()) {
		route(DLGURI);
		route(RELAY);
		exit;
	}
	# Refreshes of subscriptions the presence server (or the RLS) holds.
	if (is_method("SUBSCRIBE") && uri == myself) {
		route(PRESENCE);
		exit;
	}
#!ifdef WITH_RLS
	# The presence server's NOTIFYs for the RLS's back-end subscriptions.
	if (is_method("NOTIFY") && uri == myself) {
		rls_handle_notify();
		exit;
	}
#!endif
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	sl_send_reply("404", "Not here");
	exit;
}

route[DLGURI] {
	# A GRUU Contact (linphone: sip:2002@DOMAIN;gr=urn:uuid:...) points back at
	# the proxy: send the request to the registered contact it stands for.
	if ($rd == "DOMAIN" && $(ru{uri.param,gr}) != "") {
		if (!lookup("location")) {
			send_reply("404", "Not Found");
			exit;
		}
		return;
	}
	if (!isdsturiset()) {
		handle_ruri_alias();
	}
	return;
}

# REGISTER: digest authentication, then store the binding in usrloc.
route[REGISTRAR] {
	if (!is_method("REGISTER")) {
		return;
	}
	if (!www_authorize("$td", "subscriber")) {
		www_challenge("$td", "0");
		exit;
	}
	# The authenticated user may only register its own AOR.
	if ($au != $tU) {
		sl_send_reply("403", "Forbidden auth ID");
		exit;
	}
	consume_credentials();
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

# Our users must authenticate their calls (407); calls to our users from
# elsewhere need no credentials; we relay nothing for strangers.
route[AUTH] {
#!ifdef WITH_RLS
	# The RLS's back-end SUBSCRIBEs come from this server itself.
	if ($si == "@@HOST@@" && $sp == @@UDP_PORT@@) {
		return;
	}
#!endif
	if ($fd == "DOMAIN") {
		if (!proxy_authorize("$fd", "subscriber")) {
			proxy_challenge("$fd", "0");
			exit;
		}
		if ($au != $fU) {
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}
		consume_credentials();
	} else if ($rd != "DOMAIN") {
		sl_send_reply("403", "Not relaying");
		exit;
	}
}

# PUBLISH/SUBSCRIBE (Event: presence) for our users: Kamailio is the presence
# server and answers them itself. A SUBSCRIBE to a list URI (with Supported:
# eventlist) is the RLS's; anything else (code 10) is the presence server's.
route[PRESENCE] {
	if (!is_method("PUBLISH|SUBSCRIBE")) {
		return;
	}
	if ($hdr(Event) != "presence") {
		sl_send_reply("489", "Bad Event");
		exit;
	}
	if (!t_newtran()) {
		sl_reply_error();
		exit;
	}
	if (is_method("PUBLISH")) {
		handle_publish();
	} else {
#!ifdef WITH_RLS
		$var(rc) = rls_handle_subscribe();
		if ($var(rc) == 10) {
			handle_subscribe();
		} else if ($var(rc) < 0) {
			send_reply("500", "Resource list error");
		}
#!else
		handle_subscribe();
#!endif
	}
	exit;
}

# Headers embedded in the R-URI of an initial INVITE: RFC 3261 19.1.5 says a
# UA that builds a request from such a URI (following a REFER's Refer-To) must
# send them as headers. baresip 1.0 leaves them in the Request-URI (it also
# turns the escaped ';' and '=' of "...;encoding=hex" into '?', so that part
# is dropped: hex is User-to-User's default encoding): the proxy does it
# instead, for X- headers and User-to-User only, like an SBC would.
route[URIHEADERS] {
	if (!is_method("INVITE") || !($ru =~ "\?")) {
		return;
	}
	$var(h) = $(ru{s.select,1,?});
	xlog("L_INFO", "URIHEADERS $ru\n");
	$ru = $(ru{s.select,0,?});
	$var(n) = $(var(h){param.count,&});
	$var(i) = 0;
	while ($var(i) < $var(n)) {
		$var(name) = $(var(h){param.name,$var(i),&});
		$var(value) = $(var(h){param.valueat,$var(i),&}{s.unescape.param});
		if ($var(name) =~ "^(X-[A-Za-z0-9-]+|User-to-User)$") {
			append_hf("$var(name): $var(value)\r\n");
		}
		$var(i) = $var(i) + 1;
	}
}

# Group URIs: parallel fork to every registered contact of the members.
route[GROUP] {
	if ($rd != "DOMAIN") {
		return;
	}
@@GROUP_ROUTES@@
}

# Route to the registered contact(s) of the called user.
route[LOCATION] {
	if (!lookup("location")) {
		$var(rc) = $rc;
		t_newtran();
		switch ($var(rc)) {
			case -1:
			case -3:
				send_reply("404", "Not Found");
				exit;
			case -2:
				send_reply("405", "Method Not Allowed");
				exit;
		}
	}
}

route[RELAY] {
	if (is_method("INVITE|SUBSCRIBE|UPDATE")) {
		if (!t_is_set("onreply_route")) {
			t_on_reply("MANAGE_REPLY");
		}
	}
	xlog("L_INFO", "RELAY $rm to $ru via $du\n");
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

# A phone answering over TCP/TLS: later requests to it reuse its connection.
onreply_route[MANAGE_REPLY] {
	xlog("L_INFO", "RPL $rs $rr for $rm from $si:$sp/$pr (Call-ID $ci)\n");
	if ((proto == TCP || proto == TLS) && status =~ "[12][0-9][0-9]"
			&& is_present_hf("Contact")) {
		set_contact_alias();
	}
}
"""
