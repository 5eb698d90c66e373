import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binary, run } from '../../src/core/exec.ts'

/**
 * cloud-init's CloudStack datasource (Debian package `cloud-init` 22.4.2,
 * cloudinit/sources/DataSourceCloudStack.py), run unchanged in a guest network namespace by
 * cloud-init-datasource.py: the metadata crawl, the user data and the password fetch (its
 * `CloudStackPasswordServerClient` shells out to wget and acknowledges) are cloud-init's own code.
 *
 * How it finds the server (`get_vr_address()`), in order, and how a test drives each step:
 *   1. `getaddrinfo("data-server", 80)`: glibc with /etc/resolv.conf (and its search list) →
 *      `resolvConf`. Without one the guest gets `nameserver 127.0.0.1`, where nothing listens:
 *      the lookup fails at once.
 *   2. `SERVER_ADDRESS=` in any file of /run/systemd/netif/leases (systemd-networkd) → `networkdLease`.
 *   3. The newest `*.lease(s)` file (not dhclient6*) in the first non-empty folder of
 *      /var/lib/dhclient, /var/lib/dhcp, /var/lib/NetworkManager; the last
 *      `dhcp-server-identifier` line wins → `dhclientLease` (shown as /var/lib/dhcp/dhclient.eth0.leases).
 *      A lease file without that option falls through to 4.
 *   4. The default route's gateway from /proc/net/route: the namespace's own routes.
 * The driver binds these paths to files in `dir` inside a private mount namespace of its own
 * (after `ip netns exec`, which already gives one): nothing is written outside `dir`, and the
 * machine's own /etc/resolv.conf, /etc/hosts and lease folders are never seen. /etc/netns/<ns>
 * is not needed for that and is left alone. cloud-init's state (cloud_dir, run_dir) goes to `dir`
 * through its Paths config; the system config in /etc/cloud is not read (the driver passes its
 * own: datasource.CloudStack.max_wait and timeout).
 *
 * What installing the package on this machine does (checked on the .deb's maintainer scripts and
 * file list, 22.4.2-1+deb12u4, installed with `apt-get install --no-install-recommends`):
 *   - postinst links cloud-init-local/cloud-init/cloud-config/cloud-final.service and
 *     cloud-init-hotplugd.socket into /etc/systemd/system/cloud-init.target.wants (deb-systemd-helper)
 *     and adds update-rc.d links for the init.d scripts. Nothing starts them: PID 1 is not systemd
 *     (no /run/systemd/system, so no daemon-reload or start), /usr/sbin/policy-rc.d answers 101,
 *     no init runs rc.d links; after the install no cloud-init process, /run/cloud-init or
 *     /var/lib/cloud existed and addresses, routes and /etc/resolv.conf were unchanged. On a machine
 *     that boots systemd, cloud-init.target is only pulled in by its generator, which runs
 *     ds-identify and leaves it off when no datasource is found (policy notfound=disabled);
 *     /etc/cloud/cloud-init.disabled turns it off outright.
 *   - /etc/dhcp/dhclient-exit-hooks.d/hook-dhclient is sourced by every dhclient-script run
 *     (test/helpers/dhcp-clients.ts uses Debian's script): it acts only when /run/cloud-init/enabled
 *     exists AND the DMI board vendor is Microsoft (Azure); neither holds here, so it does nothing.
 *     The NetworkManager dispatcher hook has the same guard (and NetworkManager is not installed).
 *   - /lib/udev/rules.d/66-azure-ephemeral.rules matches only Azure block devices (and no udevd runs).
 *   - Its dependencies (python3-requests, -yaml, -jinja2, -jsonschema, -configobj, -netifaces,
 *     -serial, -oauthlib, fdisk, gdisk, eject) bring no service; isc-dhcp-client is already a test
 *     dependency. No netplan, networkd config or /etc/network file is written by the package.
 */

const DRIVER = fileURLToPath(new URL('cloud-init-datasource.py', import.meta.url))

export type Discovery = 'data-server' | 'networkd' | 'dhclient' | 'gateway'

export interface CloudInitGuest {
  /** The guest's /etc/resolv.conf (e.g. `nameserver 10.1.1.1\nsearch cloud.internal\n`). */
  resolvConf?: string
  /** A dhclient lease file's text, shown at /var/lib/dhcp/dhclient.eth0.leases. */
  dhclientLease?: string
  /** A systemd-networkd lease file's text, shown at /run/systemd/netif/leases/2. */
  networkdLease?: string
  /** datasource.CloudStack.max_wait: how long it polls latest/meta-data/instance-id (cloud-init's default 120). */
  maxWaitSeconds?: number
  /** datasource.CloudStack.timeout: one request's timeout (cloud-init's default 50). */
  timeoutSeconds?: number
}

export interface CloudInitView {
  /** Where it found the metadata server (`vr_addr`); undefined when no path gave one. */
  server: string | undefined
  /** Which discovery step gave it (from the datasource's own log lines). */
  via: Discovery | undefined
  /**
   * `get_data()` returned true, what a boot needs to take the datasource: latest/meta-data/instance-id
   * answered within max_wait, and (cloud-init 22.4) both instance-id and availability-zone were
   * served; without availability-zone get_data() raises (the error is in `log`).
   */
  found: boolean
  instanceId: string | undefined
  localHostname: string | undefined
  /** `public-keys` as cloud-init holds it, always as a list (one line served = a string to it). */
  publicKeys: string[]
  /** latest/user-data, byte for byte (empty when the server answered 404). */
  userData: Buffer
  /** The whole crawled latest/meta-data/ tree. */
  metadata: Record<string, unknown>
  /** What it got from the password server on 8080 (and acknowledged), if anything. */
  password: string | undefined
  /** cloud-init's log (debug level) and anything else the run wrote to stderr. */
  log: string
}

interface DriverOutput {
  constructed: boolean
  found?: boolean
  server?: string
  via?: Discovery | null
  metadata?: Record<string, unknown>
  userData?: string
  password?: string | null
  error?: string
}

/** Runs cloud-init's CloudStack datasource once in namespace `ns` and returns what it fetched; its files go to a new folder in `dir` (the test's own). */
export async function runCloudInit(ns: string, dir: string, guest: CloudInitGuest = {}): Promise<CloudInitView> {
  const work = join(dir, `cloud-init-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`)
  mkdirSync(work, { recursive: true })
  const maxWait = guest.maxWaitSeconds ?? 20
  const spec = {
    dir: work,
    resolvConf: guest.resolvConf ?? 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n',
    dhclientLease: guest.dhclientLease,
    networkdLease: guest.networkdLease,
    maxWait,
    timeout: guest.timeoutSeconds ?? 5,
  }
  const r = await run(binary('python3'), [DRIVER, JSON.stringify(spec)], { netns: ns, timeoutMs: (maxWait + 90) * 1000 })
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as DriverOutput
  const md = out.metadata ?? {}
  const keys = md['public-keys']
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined)
  return {
    server: out.server,
    via: out.via ?? undefined,
    found: out.found ?? false,
    instanceId: text(md['instance-id']),
    localHostname: text(md['local-hostname']),
    publicKeys: Array.isArray(keys) ? keys.map(String) : typeof keys === 'string' && keys !== '' ? [keys] : [],
    userData: Buffer.from(out.userData ?? '', 'base64'),
    metadata: md,
    password: out.password ?? undefined,
    log: (out.error !== undefined ? `${out.error}\n` : '') + r.stderr,
  }
}

/**
 * Pure. A dhclient lease file as ISC dhclient writes it (dhclient.leases(5)): the fields the
 * datasource and cloud-set-guest-password grep for. `serverIdentifier` undefined leaves the
 * option out (a lease from a server that sent none).
 */
export function renderDhclientLease(lease: { iface?: string; address: string; serverIdentifier?: string; routers?: string; domain?: string }): string {
  const lines = [
    'lease {',
    `  interface "${lease.iface ?? 'eth0'}";`,
    `  fixed-address ${lease.address};`,
    '  option subnet-mask 255.255.255.0;',
    ...(lease.routers === undefined ? [] : [`  option routers ${lease.routers};`]),
    '  option dhcp-lease-time 86400;',
    '  option dhcp-message-type 5;',
    ...(lease.serverIdentifier === undefined ? [] : [`  option dhcp-server-identifier ${lease.serverIdentifier};`]),
    ...(lease.domain === undefined ? [] : [`  option domain-name "${lease.domain}";`]),
    '  renew 4 2026/12/03 20:00:00;',
    '  rebind 4 2026/12/03 20:30:00;',
    '  expire 4 2026/12/03 21:00:00;',
    '}',
  ]
  return lines.join('\n') + '\n'
}

/** Pure. A systemd-networkd lease file (/run/systemd/netif/leases/<ifindex>) with the fields cloud-init reads. */
export function renderNetworkdLease(lease: { address: string; serverAddress: string; router?: string }): string {
  return [
    '# This is private data. Do not parse.',
    `ADDRESS=${lease.address}`,
    'NETMASK=255.255.255.0',
    ...(lease.router === undefined ? [] : [`ROUTER=${lease.router}`]),
    `SERVER_ADDRESS=${lease.serverAddress}`,
    'LIFETIME=86400',
  ].join('\n') + '\n'
}
