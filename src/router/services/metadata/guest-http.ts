import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import { parseIpv4 } from '../../../core/ipv4.ts'
import type { SourceSlots } from '../../../core/net/source-slots.ts'

/**
 * An HTTP(S) listener facing guests: small requests only, tight deadlines, and a share of
 * connections per client source, so a guest that opens many connections, trickles its headers
 * or never reads its answer costs a bounded amount and never the other guests their service.
 * - headers: 4 KiB, within 5 s; the whole request within 10 s;
 * - a connection idle 15 s, or open 60 s in all, is closed;
 * - `perSource` (shared by the caller between its listeners) and `MAX_CONNECTIONS` a listener.
 */

const MAX_CONNECTIONS = 512
const IDLE_MS = 15_000
const LIFETIME_MS = 60_000

export type GuestHandler = (req: IncomingMessage, res: ServerResponse, client: string) => void

export interface GuestHttpOptions {
  address: string
  port: number
  slots: SourceSlots
  /** Serve TLS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer } | undefined
  /** Counts a connection refused at accept (its source already holds its share). */
  onRefused: () => void
  handler: GuestHandler
}

const SERVER_OPTIONS = {
  requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000, maxHeaderSize: 4096,
  connectionsCheckingInterval: 1000,
}

/** Listens on address:port; resolves once bound, rejects when the address cannot be bound. */
export async function listenGuestHttp(opts: GuestHttpOptions): Promise<Server> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    opts.handler(req, res, clientAddress(req.socket))
  }
  const server: Server = opts.tls === undefined
    ? createHttpServer(SERVER_OPTIONS, handle)
    : createHttpsServer({ ...SERVER_OPTIONS, cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: 5_000 }, handle)
  server.maxConnections = MAX_CONNECTIONS
  server.timeout = IDLE_MS
  server.on('connection', (socket: Socket) => admit(socket, opts))
  server.on('clientError', (_err, socket: Socket) => socket.destroy())
  if (opts.tls !== undefined) server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.address, () => { server.off('error', reject); resolve() })
  })
  server.on('error', () => {})
  return server
}

/** Takes a slot for the connection's source or closes it at once; frees the slot when it closes. */
function admit(socket: Socket, opts: GuestHttpOptions): void {
  socket.on('error', () => socket.destroy())
  const source = parseIpv4(clientAddress(socket)) ?? 0
  if (!opts.slots.acquire(source)) {
    opts.onRefused()
    socket.destroy()
    return
  }
  const deadline = setTimeout(() => socket.destroy(), LIFETIME_MS)
  deadline.unref()
  socket.once('close', () => {
    clearTimeout(deadline)
    opts.slots.release(source)
  })
}

/** The peer's IPv4 address as text (a v4-mapped form unwrapped). */
function clientAddress(socket: Socket): string {
  return (socket.remoteAddress ?? '').replace(/^::ffff:/, '')
}

/** Closes the listener and every connection it holds. */
export function closeGuestHttp(server: Server): void {
  server.close()
  server.closeAllConnections()
}
