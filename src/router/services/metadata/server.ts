import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream'
import type { BlobStore } from '../../../core/files/blob-store.ts'
import type { Logger } from '../../../core/log.ts'
import type { Metrics } from '../../../core/metrics.ts'
import { SourceSlots } from '../../../core/net/source-slots.ts'
import type { MetadataNetwork, VmEntry } from './catalog.ts'
import { closeGuestHttp, listenGuestHttp } from './guest-http.ts'
import { BAD_REQUEST, passwordAction, SAVED_PASSWORD } from './password-protocol.ts'
import type { PasswordStore } from './password-store.ts'
import { resolvePath } from './paths.ts'

/**
 * The guest side of the metadata service, on each network's router IP:
 *   80, 443 (TLS): metadata and user data (paths.ts)
 *   8080:          passwords (password-protocol.ts)
 * Every answer is looked up by the network the request came in on and its source address only.
 * The kernel admits to these ports only the address + MAC pairs of the network's DHCP hosts
 * (render/iptables/metadata-clients.ts), so the source address is the VM's own.
 */

const PER_SOURCE_CONNECTIONS = 16
const METADATA_PORT = 80
const METADATA_TLS_PORT = 443
const PASSWORD_PORT = 8080

type Answer = 'ok' | 'not_found' | 'bad_method' | 'password_sent' | 'password_none' | 'password_saved' | 'bad_request'

interface Listener {
  network: MetadataNetwork
  servers: Server[]
}

export interface MetadataServerDeps {
  log: Logger
  metrics: Metrics
  blobs: BlobStore
  passwords: PasswordStore
  /** The certificate and key of port 443, made on first use (tls.ts). */
  tls: () => Promise<{ cert: Buffer; key: Buffer }>
}

export class MetadataServer {
  private readonly listeners = new Map<string, Listener>()
  private readonly slots = new SourceSlots(PER_SOURCE_CONNECTIONS)
  private readonly answers = new Map<string, number>()
  private refused = 0
  private readonly log: Logger

  constructor(private readonly deps: MetadataServerDeps) {
    this.log = deps.log.child({ component: 'metadata' })
    deps.metrics.collect(() => {
      for (const [key, n] of this.answers) {
        const [server, answer] = key.split(' ') as [string, string]
        deps.metrics.setCounter('metadata_requests_total', 'Guest requests to the metadata and password servers, by answer', n, { server, answer })
      }
      deps.metrics.setCounter('metadata_connections_refused_total', 'Guest connections closed at accept: their source held its share', this.refused)
      deps.metrics.set('metadata_vms', 'VMs with metadata served', [...this.listeners.values()].reduce((n, l) => n + l.network.vms.size, 0))
      deps.metrics.set('passwords_pending', 'Passwords waiting for their VM', deps.passwords.size)
    })
  }

  /** Serves exactly these networks from now on. */
  async update(networks: readonly MetadataNetwork[]): Promise<void> {
    const wanted = new Map(networks.map((n) => [n.id, n]))
    for (const [id, l] of this.listeners) {
      const next = wanted.get(id)
      if (next === undefined || next.routerIp !== l.network.routerIp) {
        for (const s of l.servers) closeGuestHttp(s)
        this.listeners.delete(id)
      } else {
        l.network = next
      }
    }
    for (const [id, network] of wanted) {
      if (this.listeners.has(id)) continue
      try {
        this.listeners.set(id, await this.listen(network))
      } catch (err) {
        this.log.error({ err, network: id, address: network.routerIp }, 'cannot serve metadata on the network')
      }
    }
  }

  close(): void {
    for (const l of this.listeners.values()) for (const s of l.servers) closeGuestHttp(s)
    this.listeners.clear()
  }

  private async listen(network: MetadataNetwork): Promise<Listener> {
    const listener: Listener = { network, servers: [] }
    const common = { address: network.routerIp, slots: this.slots, onRefused: () => { this.refused++ } }
    try {
      listener.servers.push(await listenGuestHttp({ ...common, port: METADATA_PORT, handler: (req, res, client) => this.serveMetadata(listener, req, res, client) }))
      listener.servers.push(await listenGuestHttp({ ...common, port: PASSWORD_PORT, handler: (req, res, client) => this.servePassword(listener, req, res, client) }))
    } catch (err) {
      for (const s of listener.servers) closeGuestHttp(s)
      throw err
    }
    try {
      listener.servers.push(await listenGuestHttp({
        ...common, port: METADATA_TLS_PORT, tls: await this.deps.tls(), handler: (req, res, client) => this.serveMetadata(listener, req, res, client),
      }))
    } catch (err) {
      // Plain HTTP and the passwords stay: cloud-init and the guest scripts use only those.
      this.log.error({ err, network: network.id }, 'cannot serve metadata over TLS on the network')
    }
    this.log.info({ network: network.id, address: network.routerIp }, 'serving metadata and passwords')
    return listener
  }

  private serveMetadata(l: Listener, req: IncomingMessage, res: ServerResponse, client: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.reply('metadata', res, 405, 'bad_method', '', { allow: 'GET, HEAD', connection: 'close' })
    const vm = l.network.vms.get(client)
    const path = resolvePath(req.url ?? '')
    if (vm === undefined || path === undefined) return this.reply('metadata', res, 404, 'not_found', '')
    switch (path.kind) {
      case 'latest':
        return this.reply('metadata', res, 200, 'ok', vm.userData === undefined ? 'meta-data\n' : 'meta-data\nuser-data\n', undefined, req)
      case 'listing':
        return this.reply('metadata', res, 200, 'ok', vm.listing, undefined, req)
      case 'key': {
        const value = vm.values.get(path.key)
        return value === undefined ? this.reply('metadata', res, 404, 'not_found', '') : this.reply('metadata', res, 200, 'ok', value, undefined, req)
      }
      case 'user-data':
        return this.serveUserData(vm, req, res)
    }
  }

  private serveUserData(vm: VmEntry, req: IncomingMessage, res: ServerResponse): void {
    const stream = vm.userData === undefined ? undefined : this.deps.blobs.read(vm.userData.sha256)
    if (vm.userData === undefined || stream === undefined) {
      stream?.destroy()
      return this.reply('metadata', res, 404, 'not_found', '')
    }
    this.count('metadata', 'ok')
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': vm.userData.size })
    if (req.method === 'HEAD') {
      stream.destroy()
      res.end()
      return
    }
    // Backpressure end to end: a client that does not read holds one file stream, not the bytes.
    pipeline(stream, res, () => {})
  }

  private servePassword(l: Listener, req: IncomingMessage, res: ServerResponse, client: string): void {
    const action = passwordAction(req.method, req.headers['domu_request'])
    switch (action.kind) {
      case 'bad':
        return this.reply('password', res, 400, 'bad_request', BAD_REQUEST, { connection: 'close' })
      case 'send': {
        const password = this.deps.passwords.get(l.network.id, client)
        return password === undefined
          ? this.reply('password', res, 200, 'password_none', SAVED_PASSWORD, undefined, req)
          : this.reply('password', res, 200, 'password_sent', password, { 'cache-control': 'no-store' }, req)
      }
      case 'acknowledge':
        try {
          this.deps.passwords.delete(l.network.id, client)
        } catch (err) {
          // Not deleted on disk: the VM asks again and gets it again, which is the safe side.
          this.log.error({ err, network: l.network.id }, 'cannot store a password acknowledgement')
          return this.reply('password', res, 503, 'bad_request', '', { connection: 'close' })
        }
        return this.reply('password', res, 200, 'password_saved', SAVED_PASSWORD, undefined, req)
    }
  }

  private reply(server: string, res: ServerResponse, status: number, answer: Answer, body: string, headers?: Record<string, string>, req?: IncomingMessage): void {
    this.count(server, answer)
    const bytes = Buffer.from(body)
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': bytes.length, ...headers })
    res.end(req?.method === 'HEAD' ? undefined : bytes)
  }

  private count(server: string, answer: string): void {
    const key = `${server} ${answer}`
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1)
  }
}
