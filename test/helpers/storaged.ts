import type { ApiMethod } from '../../src/core/http/client.ts'
import { sendApiRequest } from '../../src/core/http/client.ts'
import type { Daemon } from '../../src/lab/daemon.ts'

/** Talking to a storaged started by the storage lab (src/lab/storage-lab.ts). */

export async function api(d: Daemon, method: ApiMethod, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const answer = await sendApiRequest(d.endpoint, { method, path, token: d.token, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: answer.status, body: answer.body, headers: answer.headers }
}

/** Submits a job and fails unless it is accepted (202). */
export async function submit(d: Daemon, request: Record<string, unknown>): Promise<string> {
  const r = await api(d, 'POST', '/v1/jobs', request)
  if (r.status !== 202) throw new Error(`POST /v1/jobs answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body.id
}

const ENDED = new Set(['DOWNLOADED', 'DOWNLOAD_ERROR', 'ABANDONED'])

/** Polls a job until it has ended (bounded: 600 polls, 100 ms apart) and returns it. */
export async function finished(d: Daemon, id: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const r = await api(d, 'GET', `/v1/jobs/${id}`)
    if (r.status === 200 && ENDED.has(r.body.state)) return r.body
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`job ${id} did not end`)
}

/** Puts a path store and fails unless it is accepted. */
export async function putStore(d: Daemon, id: string, dir: string): Promise<void> {
  const r = await api(d, 'PUT', `/v1/config/stores/${id}`, { id, url: `file://${dir}` })
  if (r.status !== 200) throw new Error(`PUT store ${id} answered ${r.status}: ${JSON.stringify(r.body)}`)
}
