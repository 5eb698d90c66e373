"""Runs cloud-init's CloudStack datasource once, as a guest's boot would, and prints what it fetched.

Started by test/helpers/cloud-init.ts inside a guest network namespace: python3 <this file> '<spec json>'.
The datasource code runs unchanged; only what it reads from the machine is arranged, and only in
this process's own mount namespace (nothing is written outside spec["dir"]):
  /etc/resolv.conf, /etc/hosts         bound to files in the work dir (the data-server lookup)
  /run/systemd/netif/leases            bound to a work dir folder (networkd's SERVER_ADDRESS)
  /var/lib/dhclient, /var/lib/dhcp,
  /var/lib/NetworkManager              bound to work dir folders (dhclient's dhcp-server-identifier);
                                       the lease, if any, goes to /var/lib/dhcp like Debian's dhclient
The default route is the namespace's own (/proc/net/route). cloud-init's own state (cloud_dir,
run_dir: instance-data.json, cloud-id) goes to the work dir through its Paths config.
"""

import base64
import ctypes
import json
import logging
import os
import sys

spec = json.loads(sys.argv[1])
work = spec["dir"]

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(source, target, fstype=None, flags=0, data=None):
    check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        "mount %s" % target,
    )


# `ip netns exec` already runs us in a mount namespace of our own (slave to the host's); a fresh
# private one makes sure that no mount below can ever reach the host, however we were started.
check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
mount("none", "/", None, MS_REC | MS_PRIVATE)


def ensure_dir(target):
    """Makes `target` exist in this mount namespace only: a tmpfs over its nearest existing
    ancestor (hiding that ancestor's contents from this process), then the folders in it."""
    if os.path.isdir(target):
        return
    ancestor = os.path.dirname(target)
    while not os.path.isdir(ancestor):
        ancestor = os.path.dirname(ancestor)
    mount("tmpfs", ancestor, "tmpfs", 0, "mode=0755")
    os.makedirs(target)


def folder(name, files):
    path = os.path.join(work, name)
    os.makedirs(path, exist_ok=True)
    for fname, text in files.items():
        with open(os.path.join(path, fname), "w") as f:
            f.write(text)
    return path


def text_file(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# The lease folders first: ensure_dir may lay a tmpfs over /var/lib or /run, which must happen
# before anything is bound below them.
DHCLIENT_DIRS = ["/var/lib/dhclient", "/var/lib/dhcp", "/var/lib/NetworkManager"]
NETWORKD_DIR = "/run/systemd/netif/leases"
dhclient_lease = spec.get("dhclientLease")
networkd_lease = spec.get("networkdLease")
if dhclient_lease is not None:
    ensure_dir("/var/lib/dhcp")
if networkd_lease is not None:
    ensure_dir(NETWORKD_DIR)
empty = folder("empty", {})
for d in DHCLIENT_DIRS:
    if os.path.isdir(d):
        if d == "/var/lib/dhcp" and dhclient_lease is not None:
            mount(folder("var-lib-dhcp", {"dhclient.eth0.leases": dhclient_lease}), d, None, MS_BIND)
        else:
            mount(empty, d, None, MS_BIND)
if os.path.isdir(NETWORKD_DIR):
    leases = {} if networkd_lease is None else {"2": networkd_lease}
    mount(folder("networkd-leases", leases), NETWORKD_DIR, None, MS_BIND)
mount(text_file("resolv.conf", spec["resolvConf"]), "/etc/resolv.conf", None, MS_BIND)
mount(text_file("hosts", "127.0.0.1 localhost\n::1 localhost\n"), "/etc/hosts", None, MS_BIND)

# requests (the metadata) and wget (the password) would honour a proxy from the environment.
for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
    os.environ.pop(var, None)
    os.environ.pop(var.upper(), None)

records = []


class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)


from cloudinit import distros, helpers  # noqa: E402
from cloudinit.sources import DataSourceCloudStack as cs  # noqa: E402

# Importing cloudinit.log resets the root logger, so the handlers go on after the imports.
handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
logging.getLogger().addHandler(handler)
logging.getLogger().addHandler(Keep())
logging.getLogger().setLevel(logging.DEBUG)

paths = helpers.Paths(
    {"cloud_dir": os.path.join(work, "cloud"), "run_dir": os.path.join(work, "run")}
)
sys_cfg = {
    "datasource": {
        "CloudStack": {"max_wait": spec["maxWait"], "timeout": spec["timeout"]}
    }
}
distro = distros.fetch("debian")("debian", {}, paths)


def discovery():
    """Which branch of get_vr_address() answered, from the lines it logs."""
    via = None
    for r in records:
        if r.name != cs.__name__:
            continue
        msg = r.getMessage()
        if "via data-server DNS entry" in msg:
            via = "data-server"
        elif "via networkd_leases" in msg:
            via = "networkd"
        elif msg.startswith("Found DHCP identifier"):
            via = "dhclient"
        elif "using default gateway" in msg:
            via = "gateway"
    return via


def as_text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


out = {"constructed": False}
try:
    ds = cs.DataSourceCloudStack(sys_cfg, distro, paths)
except RuntimeError as e:  # "No virtual router found!": every discovery path came up empty
    out["error"] = str(e)
else:
    try:
        found = ds.get_data()
    except Exception as e:  # e.g. persisting instance-data.json without an instance-id
        logging.getLogger(__name__).exception("get_data() raised")
        out["error"] = "get_data() raised %r" % (e,)
        found = False
    raw = ds.userdata_raw
    if isinstance(raw, str):
        raw = raw.encode()
    out = {
        **out,
        "constructed": True,
        "found": bool(found),
        "server": ds.vr_addr,
        "metadata": ds.metadata,
        "userData": base64.b64encode(raw or b"").decode(),
        "password": ds.get_config_obj().get("password"),
    }
out["via"] = discovery() if out.get("server") else None
print(json.dumps(out, default=as_text))
