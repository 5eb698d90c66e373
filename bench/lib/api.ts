import { request } from 'node:http'

/** A minimal client of routerd's control API over its unix socket (node:http, no dependencies). */

export interface ApiResponse {
  status: number
  body: any
  /** Request sent until the whole response was received. */
  ms: number
}

export class RouterdApi {
  constructor(private readonly socketPath: string, private readonly token: string) {}

  call(method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, body?: string, timeoutMs = 180_000): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { authorization: `Bearer ${this.token}` }
      if (body !== undefined) {
        headers['content-type'] = 'application/json'
        headers['content-length'] = Buffer.byteLength(body)
      }
      const started = performance.now()
      const req = request({ socketPath: this.socketPath, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const ms = performance.now() - started
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = text
          if (String(res.headers['content-type'] ?? '').includes('json')) {
            try { parsed = JSON.parse(text) } catch { /* keep the text */ }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, ms })
        })
        res.on('error', reject)
      })
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end(body)
    })
  }

  /** Like call(), but a non-2xx answer is an error naming the status and body. */
  async ok(method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, body?: string, timeoutMs?: number): Promise<ApiResponse> {
    const r = await this.call(method, path, body, timeoutMs)
    if (r.status < 200 || r.status >= 300) {
      throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 2000)}`)
    }
    return r
  }
}
