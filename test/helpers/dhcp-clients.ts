import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RunResult } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'

/**
 * Real DHCP clients run in a guest namespace: busybox udhcpc and ISC dhclient. Each runs in its
 * own UTS namespace (dhclient-script may set the host name) and writes its resolver
 * configuration into the test's directory, never into the host's /etc.
 */

export interface ClientView {
  /** `ip -4 -o addr show dev eth0` and `ip -4 route show` in the namespace after the client ran. */
  addresses: string
  routes: string
  /** The resolv.conf the client wrote (nameserver, domain, search lines). */
  resolv: string
  exitCode: number
  output: string
}

/**
 * The udhcpc event script: applies address, MTU, default route and option-121 routes
 * ($staticroutes, which Debian's default script ignores) and writes resolv.conf, following
 * busybox's examples/udhcp/simple.script. It also records the variables udhcpc decoded.
 */
function udhcpcScript(dir: string): string {
  return `#!/bin/sh
RESOLV_CONF="${dir}/resolv.conf"
mask_to_prefix() { n=0; for o in $(echo "$1" | tr . ' '); do while [ "$o" -gt 0 ]; do n=$((n + (o & 1))); o=$((o >> 1)); done; done; echo $n; }
env | grep -E '^(ip|subnet|broadcast|router|dns|domain|search|mtu|lease|serverid|hostname|staticroutes|ntpsrv)=' | sort > "${dir}/udhcpc.env.$1"
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$(mask_to_prefix "$subnet")" broadcast "\${broadcast:-+}" dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ -n "$1" ] && [ -n "$2" ]; do
        if [ "$1" = "0.0.0.0/0" ]; then ip route replace default via "$2" dev "$interface"; else ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    elif [ -n "$router" ]; then
      for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    fi
    : > "$RESOLV_CONF"
    [ -n "$domain" ] && echo "domain $domain" >> "$RESOLV_CONF"
    [ -n "$search" ] && echo "search $search" >> "$RESOLV_CONF"
    for s in $dns; do echo "nameserver $s" >> "$RESOLV_CONF"; done ;;
esac
exit 0
`
}

async function view(lab: Lab, ns: string, dir: string, r: RunResult): Promise<ClientView> {
  const addresses = (await lab.exec(ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout
  const routes = (await lab.exec(ns, 'ip', ['-4', 'route', 'show'])).stdout
  const resolvPath = join(dir, 'resolv.conf')
  return { addresses, routes, resolv: existsSync(resolvPath) ? readFileSync(resolvPath, 'utf8') : '', exitCode: r.exitCode, output: r.stdout + r.stderr }
}

/** Runs `udhcpc` once (it quits after the lease, or fails after 3 tries). `requestIp` asks for an address. */
export async function udhcpc(lab: Lab, ns: string, dir: string, requestIp?: string): Promise<ClientView & { env: Record<string, string> }> {
  const script = join(dir, 'udhcpc.script')
  writeFileSync(script, udhcpcScript(dir))
  chmodSync(script, 0o755)
  const args = ['--uts', '--', 'busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-A', '1', '-s', script,
    '-O', 'staticroutes', '-O', 'search', '-O', 'ntpsrv', '-O', 'mtu', '-O', 'hostname', ...(requestIp ? ['-r', requestIp] : [])]
  const r = await lab.exec(ns, 'unshare', args, { okCodes: [0, 1], timeoutMs: 30_000 })
  const envFile = join(dir, 'udhcpc.env.bound')
  const env = existsSync(envFile)
    ? Object.fromEntries(readFileSync(envFile, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
    : {}
  return { ...(await view(lab, ns, dir, r)), env }
}

const DHCLIENT_CONF = `option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
send host-name = gethostname();
request subnet-mask, broadcast-address, time-offset, routers, domain-name, domain-name-servers,
  domain-search, host-name, interface-mtu, rfc3442-classless-static-routes, ntp-servers;
timeout 20;
retry 5;
initial-interval 1;
`

/**
 * Runs `dhclient -1` with Debian's own dhclient-script and hooks (the rfc3442 exit hook among
 * them), the resolv.conf path alone redirected into `dir`. dhclient stays running to renew; the
 * lab's teardown ends it. `release` runs `dhclient -r` (sends RELEASE) instead.
 */
export async function dhclient(lab: Lab, ns: string, dir: string, mode: 'lease' | 'release' = 'lease'): Promise<ClientView> {
  const conf = join(dir, 'dhclient.conf')
  const script = join(dir, 'dhclient-script')
  writeFileSync(conf, DHCLIENT_CONF)
  writeFileSync(script, `#!/bin/sh\n# Debian's dhclient-script with resolv.conf redirected into the test directory.\neval "$(sed 's#/etc/resolv.conf#${dir}/resolv.conf#g' /sbin/dhclient-script)"\n`)
  chmodSync(script, 0o755)
  const args = ['--uts', '--', 'dhclient', mode === 'release' ? '-r' : '-1', '-v', '-cf', conf, '-lf', join(dir, 'dhclient.leases'),
    '-pf', join(dir, 'dhclient.pid'), '-sf', script, 'eth0']
  const r = await lab.exec(ns, 'unshare', args, { okCodes: [0, 1, 2], timeoutMs: 60_000 })
  return view(lab, ns, dir, r)
}

/** One hand-made DHCP message (a guest forging fields a real client would not). */
export interface ForgedMessage {
  type: number
  mac: string
  xid?: number
  ciaddr?: string
  giaddr?: string
  requested?: string
  server?: string
  /** Sends this many copies, each with a random locally administered MAC instead of `mac`. */
  randomMacs?: number
  /** Sends this many copies of the message as it is. */
  repeat?: number
}

export interface ForgedReply { type: number; yiaddr: string; giaddr: string; from: string; hostname: string }

/**
 * Sends forged DHCP messages from a guest namespace with python3 (a plain UDP socket, so the
 * kernel fills in the namespace's real addresses unless `bindAddress` picks one it owns), then
 * listens `listenMs` on the same socket for replies and returns them.
 */
export async function sendForgedDhcp(lab: Lab, ns: string, opts: { to: string; sourcePort: number; bindAddress?: string; listenMs?: number; pps?: number; messages: ForgedMessage[] }): Promise<ForgedReply[]> {
  const script = String.raw`
import json, os, socket, struct, sys, time
spec = json.loads(sys.argv[1])
def addr(a): return socket.inet_aton(a or '0.0.0.0')
def macb(m): return bytes(int(x, 16) for x in m.split(':'))
def packet(m, mac):
    head = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 0, m.get('xid', 0x5eed), 0, 0,
        addr(m.get('ciaddr')), addr(None), addr(None), addr(m.get('giaddr')), macb(mac).ljust(16, b'\0'), b'', b'')
    opts = b'\x63\x82\x53\x63' + bytes([53, 1, m['type']])
    if m.get('requested'): opts += bytes([50, 4]) + addr(m['requested'])
    if m.get('server'): opts += bytes([54, 4]) + addr(m['server'])
    return head + opts + b'\xff'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind((spec.get('bindAddress') or '0.0.0.0', spec['sourcePort']))
pps, sent, t0 = spec.get('pps'), 0, time.time()
def send(data):
    global sent
    # At most pps datagrams a second when asked (a flood the router must keep up with).
    if pps and sent % 50 == 0:
        ahead = sent / pps - (time.time() - t0)
        if ahead > 0: time.sleep(ahead)
    try:
        s.sendto(data, (spec['to'], 67))
    except (BlockingIOError, OSError):
        pass
    sent += 1
for m in spec['messages']:
    for _ in range(m.get('randomMacs', 0)):
        r = os.urandom(5)
        send(packet(m, ':'.join('%02x' % b for b in bytes([0x02]) + r)))
    for _ in range(m.get('repeat', 1) if not m.get('randomMacs') else 0):
        send(packet(m, m['mac']))
s.settimeout(0.1)
end = time.time() + spec.get('listenMs', 0) / 1000
while time.time() < end:
    try:
        data, src = s.recvfrom(2048)
    except socket.timeout:
        continue
    if len(data) < 240 or data[0] != 2: continue
    opts, i, t, name = data[240:], 0, 0, ''
    while i + 1 < len(opts) and opts[i] != 255:
        if opts[i] == 0: i += 1; continue
        code, n = opts[i], opts[i + 1]
        if code == 53: t = opts[i + 2]
        if code == 12: name = opts[i + 2:i + 2 + n].decode('latin1')
        i += 2 + n
    print(json.dumps({'type': t, 'yiaddr': socket.inet_ntoa(data[16:20]), 'giaddr': socket.inet_ntoa(data[24:28]), 'from': src[0], 'hostname': name}))
`
  const r = await lab.exec(ns, 'python3', ['-c', script, JSON.stringify(opts)], { timeoutMs: 60_000 })
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ForgedReply)
}
