import { ApplianceError, errorCode } from '../core/errors.ts'
import { describeEndpoint, sendApiRequest, type Endpoint } from '../core/http/client.ts'
import type { RequestPlan } from './command.ts'

/**
 * svmctl's request: the control API client of src/core with svmctl's timeout, and its failures
 * worded for a person and coded ERR_CLI_CONNECT (svmctl's catalogue in README.md).
 */

export interface ApiResponse {
  status: number
  /** Parsed JSON when the answer is JSON, the text otherwise. */
  body: unknown
}

/** A request body and its content type. */
export interface RequestBody { data: string | Buffer; contentType: string }

/**
 * Sends `plan` with the bearer `token` and an optional `body`. Resolves with any HTTP answer
 * (error statuses included); rejects with ERR_CLI_CONNECT when the daemon cannot be reached or does
 * not answer within `timeoutMs` (an apply of a large config can take a while).
 */
export async function sendRequest(endpoint: Endpoint, plan: RequestPlan, token: string, body?: RequestBody, timeoutMs = 300_000, daemon = 'routerd'): Promise<ApiResponse> {
  const headers = { ...plan.headers, accept: 'application/json' }
  try {
    const answer = await sendApiRequest(endpoint, { method: plan.method, path: plan.path, headers, token, body: body?.data, contentType: body?.contentType, timeoutMs })
    return { status: answer.status, body: answer.body }
  } catch (err) {
    const detail = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err)
    const message = errorCode(err) === 'ERR_HTTP_ANSWER'
      ? `answer from ${describeEndpoint(endpoint)} broke off: ${detail}`
      : `cannot reach ${daemon} at ${describeEndpoint(endpoint)}: ${detail}`
    throw new ApplianceError('ERR_CLI_CONNECT', message, { cause: err })
  }
}
