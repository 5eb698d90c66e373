import { request } from 'node:http'
import { sendApiRequest, type ApiAnswer, type ApiMethod } from '../../src/core/http/client.ts'

/** routerd's control API over its unix socket, for the suites: the core client with the bench's timeout and an ok() that fails on non-2xx. */

export type ApiResponse = Pick<ApiAnswer, 'status' | 'body' | 'ms'> & { body: any }

export class RouterdApi {
  constructor(private readonly socketPath: string, private readonly token: string) {}

  call(method: ApiMethod, path: string, body?: string, timeoutMs = 180_000): Promise<ApiResponse> {
    return sendApiRequest({ kind: 'socket', path: this.socketPath }, { method, path, token: this.token, body, timeoutMs })
  }

  /** Like call(), but a non-2xx answer is an error naming the status and body. */
  async ok(method: ApiMethod, path: string, body?: string, timeoutMs?: number): Promise<ApiResponse> {
    const r = await this.call(method, path, body, timeoutMs)
    if (r.status < 200 || r.status >= 300) {
      throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 2000)}`)
    }
    return r
  }

  /**
   * PUT of raw bytes as application/octet-stream (a user-data blob: the core client sends JSON
   * only); resolves with the status, a non-2xx answer is an error naming the status and body.
   */
  putBytes(path: string, bytes: Buffer, timeoutMs = 60_000): Promise<number> {
    const headers = { authorization: `Bearer ${this.token}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }
    return new Promise((resolve, reject) => {
      const r = request({ socketPath: this.socketPath, method: 'PUT', path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) resolve(status)
          else reject(new Error(`PUT ${path} answered ${status}: ${Buffer.concat(chunks).toString('utf8').slice(0, 2000)}`))
        })
      })
      r.setTimeout(timeoutMs, () => r.destroy(new Error(`PUT ${path}: no answer within ${timeoutMs} ms`)))
      r.on('error', reject)
      r.end(bytes)
    })
  }
}
