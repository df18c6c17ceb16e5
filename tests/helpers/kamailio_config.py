"""The files of the Kamailio test lab: the routing script (registrar, proxy,
presence server, group forks, resource lists), the TLS profiles and the
db_text tables; tests/helpers/kamailio.py writes them per run and runs
Kamailio on them."""

from __future__ import annotations

# RLS documents (rls-services, RFC 4826) are doc_type 8 in the xcap table.
XCAP_RLS_SERVICES = 8

# db_text tables of the presence modules (schemas as in /usr/share/kamailio/dbtext).
PRESENCE_TABLES: dict[str, tuple[int, str]] = {
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


def group_routes(groups: dict[str, list[str]]) -> str:
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


def rls_services(lists: dict[str, list[str]], host: str) -> str:
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


def dbtext(value: str) -> str:
    """Escape a value for a db_text row."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("\n", "\\n")


TLS_CONFIG = """\
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
CONFIG = r"""#!KAMAILIO
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
