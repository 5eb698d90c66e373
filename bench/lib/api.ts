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
}
