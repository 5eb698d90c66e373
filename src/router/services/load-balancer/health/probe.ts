import { request } from 'node:http'
import { connect } from 'node:net'
import type { CheckResult } from './state.ts'

/**
 * One health check of a backend. Every probe resolves (never rejects) within its timeout, which
 * covers connecting and the answer's head; a backend that never answers costs the timeout, one
 * that streams an endless body nothing (node's parser bounds the head at 16 KiB).
 */

function done(started: number, ok: boolean, detail: string): CheckResult {
  const at = Date.now()
  return { ok, detail, at, durationMs: Math.max(0, Math.round(performance.now() - started)) }
}

function reason(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'connect refused'
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'unreachable'
  return err.code ?? err.message
}

/** A TCP connect, closed at once. */
export function probeTcp(ip: string, port: number, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port })
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs)
    const finish = (ok: boolean, detail: string) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(done(started, ok, detail))
    }
    socket.once('connect', () => finish(true, 'connected'))
    socket.once('error', (err) => finish(false, reason(err)))
  })
}

/**
 * The PROXY protocol v2 header with the LOCAL command: "a health check, no client behind it",
 * which a backend that expects the header from HAProxy accepts before the request.
 */
export const PROXY_V2_LOCAL = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00])

/** An HTTP GET of `path` (after PROXY_V2_LOCAL when `proxyProtocol`): passes on `expectStatus`, else on any 2xx or 3xx. */
export function probeHttp(ip: string, port: number, path: string, expectStatus: number | undefined, timeoutMs: number, proxyProtocol = false): Promise<CheckResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    let settled = false
    const finish = (ok: boolean, detail: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(done(started, ok, detail))
    }
    const createConnection = proxyProtocol
      ? () => {
          const socket = connect({ host: ip, port })
          // Queued before the request, so it is the first thing the backend reads.
          socket.write(PROXY_V2_LOCAL)
          return socket
        }
      : undefined
    // A request with an agent (even `agent: false`, a fresh one) ignores createConnection.
    const req = request({ host: ip, port, path, method: 'GET', ...(createConnection === undefined ? { agent: false } : { createConnection }),
      headers: { host: ip, connection: 'close', 'user-agent': 'routerd-health-check' } }, (res) => {
      // The status line is all a check needs: the body is never read (an endless one costs nothing).
      const status = res.statusCode ?? 0
      finish(expectStatus === undefined ? status >= 200 && status < 400 : status === expectStatus, `status ${status}`)
    })
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs)
    req.on('error', (err) => finish(false, reason(err)))
    req.end()
  })
}
