import { request, type IncomingHttpHeaders } from 'node:http'
import { ApplianceError } from '../errors.ts'

/**
 * The one client of a daemon's control API (svmctl, the tests, the benchmarks): one request over a
 * unix socket or plain TCP with a bearer token, node:http only. Every answer resolves, error
 * statuses included; only "no answer" rejects, with a stable code:
 * - ERR_HTTP_UNREACHABLE: nothing answered (refused, no socket, reset before the status line);
 * - ERR_HTTP_TIMEOUT: the connection stayed silent for `timeoutMs`;
 * - ERR_HTTP_ANSWER: the answer broke off or was larger than `maxBytes`.
 * The underlying error is the `cause`, so a caller can word its own message around it.
 * No TLS: the daemons bind localhost or a unix socket (appliance/routerd-ready.mjs, which must run
 * with no imports, speaks TLS on its own).
 */

export type Endpoint = { kind: 'socket'; path: string } | { kind: 'tcp'; host: string; port: number }

export type ApiMethod = 'GET' | 'PUT' | 'DELETE' | 'POST'

export interface ApiRequest {
  method: ApiMethod
  path: string
  /** Sent as `Authorization: Bearer <token>` when given (even empty: tests send a wrong one on purpose). */
  token?: string | undefined
  headers?: Readonly<Record<string, string>>
  /** Sent with its length and `contentType`. */
  body?: string | Buffer | undefined
  /** The body's content type (default application/json). */
  contentType?: string | undefined
  /** Gives up when the connection is silent this long (an idle timeout, so a slow apply that is answering is not cut). */
  timeoutMs?: number | undefined
  /** Largest answer accepted (default 64 MiB). */
  maxBytes?: number
}

export interface ApiAnswer {
  status: number
  headers: IncomingHttpHeaders
  /** Parsed JSON when the answer says it is JSON (and parses), its text otherwise. */
  body: unknown
  /** From sending the request until the whole answer was in. */
  ms: number
}

const MAX_ANSWER = 64 * 1024 * 1024

/** Pure. A short name of an endpoint for messages: `unix:/path` or `http://host:port`. */
export function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.kind === 'socket' ? `unix:${endpoint.path}` : `http://${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`
}

/** Pure. The answer's body: JSON when its content type says so and it parses, the text otherwise. */
export function parseAnswerBody(contentType: string | undefined, text: string): unknown {
  if (!String(contentType ?? '').includes('json')) return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Sends one request and resolves with the answer, whatever its status; rejects only when there is none. */
export function sendApiRequest(endpoint: Endpoint, req: ApiRequest): Promise<ApiAnswer> {
  const where = endpoint.kind === 'socket' ? { socketPath: endpoint.path } : { host: endpoint.host, port: endpoint.port }
  const headers: Record<string, string> = { ...req.headers }
  if (req.token !== undefined) headers['authorization'] = `Bearer ${req.token}`
  if (req.body !== undefined) {
    headers['content-type'] = req.contentType ?? 'application/json'
    headers['content-length'] = String(Buffer.byteLength(req.body))
  }
  const maxBytes = req.maxBytes ?? MAX_ANSWER
  const name = describeEndpoint(endpoint)
  return new Promise((resolve, reject) => {
    const started = performance.now()
    let answered = false
    let settled = false
    const fail = (code: string, message: string, cause: Error): void => {
      if (settled) return
      settled = true
      reject(new ApplianceError(code, `${message}: ${cause.message}`, { cause }))
    }
    // agent: false: one connection per request, so a restarted daemon is never asked on a dead keep-alive socket.
    const r = request({ ...where, method: req.method, path: req.path, headers, agent: false }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= maxBytes) return void chunks.push(chunk)
        fail('ERR_HTTP_ANSWER', `answer from ${name} refused`, new Error(`larger than ${maxBytes} bytes`))
        r.destroy()
      })
      res.on('error', (err) => fail('ERR_HTTP_ANSWER', `answer from ${name} broke off`, err))
      res.on('end', () => {
        if (settled) return
        settled = true
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parseAnswerBody(res.headers['content-type'], text), ms: performance.now() - started })
      })
    })
    if (req.timeoutMs !== undefined) {
      const timeoutMs = req.timeoutMs
      r.setTimeout(timeoutMs, () => {
        fail('ERR_HTTP_TIMEOUT', `${name} went silent`, new Error(`no answer within ${timeoutMs} ms`))
        r.destroy()
      })
    }
    r.on('error', (err) => fail(answered ? 'ERR_HTTP_ANSWER' : 'ERR_HTTP_UNREACHABLE', answered ? `answer from ${name} broke off` : `cannot reach ${name}`, err))
    r.end(req.body)
  })
}
