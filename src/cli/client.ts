import { request } from 'node:http'
import { ApplianceError } from '../core/errors.ts'
import { describeEndpoint, type Endpoint, type RequestPlan } from './command.ts'

/**
 * svmctl's HTTP client: one request to routerd over a unix socket or TCP, with node:http only.
 */

export interface ApiResponse {
  status: number
  /** Parsed JSON when the answer is JSON, the text otherwise. */
  body: unknown
}

const MAX_ANSWER = 64 * 1024 * 1024

/**
 * Sends `plan` with the bearer `token` and an optional JSON `body`. Resolves with any HTTP answer
 * (error statuses included); rejects with ERR_CLI_CONNECT when routerd cannot be reached or does
 * not answer within `timeoutMs` (an apply of a large config can take a while).
 */
export function sendRequest(endpoint: Endpoint, plan: RequestPlan, token: string, body?: string, timeoutMs = 300_000): Promise<ApiResponse> {
  const where = endpoint.kind === 'socket' ? { socketPath: endpoint.path } : { host: endpoint.host, port: endpoint.port }
  const headers: Record<string, string> = { ...plan.headers, authorization: `Bearer ${token}`, accept: 'application/json' }
  if (body !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = String(Buffer.byteLength(body))
  }
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method: plan.method, path: plan.path, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= MAX_ANSWER) chunks.push(chunk)
      })
      res.on('error', (err) => reject(new ApplianceError('ERR_CLI_CONNECT', `answer from ${describeEndpoint(endpoint)} broke off: ${err.message}`, { cause: err })))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = text
        if (String(res.headers['content-type'] ?? '').includes('json')) {
          try { parsed = JSON.parse(text) } catch { /* shown as text */ }
        }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (err) => reject(new ApplianceError('ERR_CLI_CONNECT', `cannot reach routerd at ${describeEndpoint(endpoint)}: ${err.message}`, { cause: err })))
    req.end(body)
  })
}
