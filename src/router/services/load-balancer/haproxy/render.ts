import type { LoadBalancer } from '../../../model/config.ts'
import { backendKey } from '../../../model/normalize.ts'
import { HEALTH_DEFAULTS } from '../health/targets.ts'

/**
 * Pure. haproxy.cfg for the load balancers of mode http and tls: the whole desired state, so a
 * reload (or a start after a crash) brings HAProxy to it whatever the runtime API changed
 * before. One frontend and one backend per load balancer; a port range is bound as a range and
 * each server's address is an offset from the port the client connected to (`ip:+N`/`ip:-N`),
 * so public port p reaches the backend's first port + (p - public start). Same input, same bytes.
 *
 *   global     master-worker friendly (no daemon), admin socket with expose-fd listeners for
 *              seamless reloads, maxconn
 *   frontend   lb-<id>: bind <public ip>:<ports> [ssl crt <pem>], mode http, X-Forwarded-For
 *              (option forwardfor) and X-Forwarded-Proto, sources limited by sourceCidrs
 *   backend    be-<id>: balance, stickiness (cookie insert, or a stick table on the app's cookie
 *              or the source), HAProxy's own checks when the rule has one, a server per backend
 *              (weight, maxconn, send-proxy-v2; disabled while routerd's checks say down; weight 0
 *              drains)
 */

export interface HaproxyRenderOptions {
  /** Where the admin socket lives. */
  runtimeDir: string
  /** The combined PEM (certificate, chain, key) of a stored certificate. */
  certificatePath: (id: string) => string
  /** Backend keys routerd's own checks hold down. */
  down: ReadonlySet<string>
}

/** Pure. The name HAProxy knows a backend server by: stable for the same address and port. */
export function serverName(ip: string, port: number): string {
  return `s-${ip.replace(/\./g, '-')}-${port}`
}

export function frontendName(id: string): string {
  return `lb-${id}`
}

export function backendName(id: string): string {
  return `be-${id}`
}

/** CloudStack's default (network.loadbalancer.haproxy.max.conn); HAProxy needs about twice as many file descriptors. */
const MAXCONN = 4096
const DEFAULT_COOKIE = 'SERVERID'
/** Connections one client address may hold on a frontend unless the rule says otherwise. */
export const DEFAULT_CONNECTIONS_PER_CLIENT = 1024
const CLIENT_TABLE_SIZE = 65536
const APP_COOKIE_SECONDS = 10800

function ports(r: LoadBalancer): string {
  const end = r.publicPorts.end ?? r.publicPorts.start
  return end === r.publicPorts.start ? String(r.publicPorts.start) : `${r.publicPorts.start}-${end}`
}

/** Pure. A load balancer's server lines and what a runtime `add server` needs for each. */
export function serverLines(r: LoadBalancer, down: ReadonlySet<string>): { key: string; name: string; line: string; address: string; options: string[] }[] {
  const privateStart = r.privatePorts.start
  const ranged = (r.publicPorts.end ?? r.publicPorts.start) !== r.publicPorts.start
  return [...r.backends]
    .map((b) => ({ b, port: b.port ?? privateStart }))
    .sort((x, y) => (x.b.ip === y.b.ip ? x.port - y.port : x.b.ip < y.b.ip ? -1 : 1))
    .map(({ b, port }) => {
      const key = backendKey(r.id, b.ip, port)
      const name = serverName(b.ip, port)
      const weight = b.weight ?? 1
      // A range keeps the client's offset: the backend's port is its first one plus (dst port - public start).
      const offset = port - r.publicPorts.start
      const address = ranged ? `${b.ip}:${offset < 0 ? '-' : '+'}${Math.abs(offset)}` : `${b.ip}:${port}`
      const options = [`weight ${weight}`]
      if (r.maxConnectionsPerBackend !== undefined) options.push(`maxconn ${r.maxConnectionsPerBackend}`)
      if (r.proxyProtocol === true) options.push('send-proxy-v2')
      if (r.healthCheck !== undefined) {
        const hc = r.healthCheck
        options.push('check', `port ${hc.port ?? port}`)
        // With a `port`, HAProxy's checks leave out the PROXY header the traffic port expects.
        if (r.proxyProtocol === true && hc.port === undefined) options.push('check-send-proxy')
        options.push(`inter ${(hc.intervalSeconds ?? HEALTH_DEFAULTS.intervalSeconds) * 1000}`, `rise ${hc.rise ?? HEALTH_DEFAULTS.rise}`, `fall ${hc.fall ?? HEALTH_DEFAULTS.fall}`)
      }
      if (r.stickiness?.kind === 'lbCookie') options.push(`cookie ${name}`)
      const state = down.has(key) ? ['disabled'] : []
      return { key, name, address, options, line: `    server ${name} ${address} ${[...options, ...state].join(' ')}` }
    })
}

function frontend(r: LoadBalancer, o: HaproxyRenderOptions): string[] {
  const tls = r.mode === 'tls' && r.tls !== undefined
  const lines = [`frontend ${frontendName(r.id)}`, `    bind ${r.publicIp}:${ports(r)}${tls ? ` ssl crt ${o.certificatePath(r.tls!.certificate)}` : ''}`, '    mode http']
  if (r.sourceCidrs !== undefined) lines.push(`    tcp-request connection reject unless { src ${[...r.sourceCidrs].sort().join(' ')} }`)
  // One client's share of the connections (and so of the memory their buffers take): an entry
  // per client address seen in the last minute, at most CLIENT_TABLE_SIZE of them.
  lines.push(`    stick-table type ip size ${CLIENT_TABLE_SIZE} expire 60s store conn_cur`, '    tcp-request connection track-sc0 src',
    `    tcp-request connection reject if { sc0_conn_cur gt ${r.maxConnectionsPerClient ?? DEFAULT_CONNECTIONS_PER_CLIENT} }`)
  lines.push('    option forwardfor', `    http-request set-header X-Forwarded-Proto ${tls ? 'https' : 'http'}`, `    default_backend ${backendName(r.id)}`)
  return lines
}

function backend(r: LoadBalancer, o: HaproxyRenderOptions): string[] {
  const lines = [`backend ${backendName(r.id)}`, '    mode http', `    balance ${r.algorithm ?? 'roundrobin'}`]
  const s = r.stickiness
  if (s?.kind === 'lbCookie') lines.push(`    cookie ${s.cookie ?? DEFAULT_COOKIE} insert indirect nocache`)
  if (s?.kind === 'appCookie') {
    lines.push(`    stick-table type string len 64 size 100k expire ${s.timeoutSeconds ?? APP_COOKIE_SECONDS}s`,
      `    stick on req.cook(${s.cookie})`, `    stick store-response res.cook(${s.cookie})`)
  }
  if (s?.kind === 'source') lines.push(`    stick-table type ip size 200k expire ${s.timeoutSeconds ?? 3600}s`, '    stick on src')
  const hc = r.healthCheck
  if (hc?.type === 'http') {
    lines.push(`    option httpchk GET ${hc.path ?? HEALTH_DEFAULTS.path}`)
    lines.push(hc.expectStatus === undefined ? '    http-check expect status 200-399' : `    http-check expect status ${hc.expectStatus}`)
  }
  if (hc !== undefined) lines.push(`    timeout check ${(hc.timeoutSeconds ?? HEALTH_DEFAULTS.timeoutSeconds) * 1000}`)
  for (const server of serverLines(r, o.down)) lines.push(server.line)
  return lines
}

/** Pure. The whole haproxy.cfg for `lbs` (only those of mode http or tls are rendered). */
export function renderHaproxyConfig(lbs: readonly LoadBalancer[], o: HaproxyRenderOptions): string {
  const proxied = lbs.filter((r) => r.mode === 'http' || r.mode === 'tls').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const out = [
    '# Rendered by routerd (services/load-balancer/haproxy); replaced whole on every change.',
    'global',
    `    maxconn ${MAXCONN}`,
    `    stats socket ${o.runtimeDir}/admin.sock mode 600 level admin expose-fd listeners`,
    '    hard-stop-after 30s',
    '',
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout http-request 10s',
    '    timeout queue 30s',
    '    option dontlognull',
    '',
  ]
  for (const r of proxied) out.push(...frontend(r, o), '', ...backend(r, o), '')
  return out.join('\n')
}
