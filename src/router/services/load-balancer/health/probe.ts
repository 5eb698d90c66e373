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

/** An HTTP GET of `path`: passes on `expectStatus`, else on any 2xx or 3xx. */
export function probeHttp(ip: string, port: number, path: string, expectStatus: number | undefined, timeoutMs: number): Promise<CheckResult> {
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
    const req = request({ host: ip, port, path, method: 'GET', agent: false, headers: { host: ip, connection: 'close', 'user-agent': 'routerd-health-check' } }, (res) => {
      // The status line is all a check needs: the body is never read (an endless one costs nothing).
      const status = res.statusCode ?? 0
      finish(expectStatus === undefined ? status >= 200 && status < 400 : status === expectStatus, `status ${status}`)
    })
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs)
    req.on('error', (err) => finish(false, reason(err)))
    req.end()
  })
}
