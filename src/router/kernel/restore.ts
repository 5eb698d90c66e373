import { errorCode, RestoreRejectedError, type CommandFailedError } from '../../core/errors.ts'
import type { Runner } from '../../core/exec.ts'

/**
 * Kernel batches (iptables-restore, ipset restore, ip -batch): one process per batch, the
 * payload on stdin. A batch the tool rejects becomes a RestoreRejectedError naming the failing
 * line; anything else (a timeout, a missing binary) is passed on as it is.
 */

/**
 * Runs `file args` with `payload` on stdin. `tool` names the batch in errors and post-mortem
 * files (default: `file`).
 */
export async function runBatch(runner: Runner, file: string, args: readonly string[], payload: string, opts: { timeoutMs: number; tool?: string }): Promise<void> {
  try {
    await runner.run(file, args, { stdin: payload, timeoutMs: opts.timeoutMs, batch: true })
  } catch (err) {
    if (errorCode(err) === 'ERR_COMMAND_FAILED') throw restoreError(opts.tool ?? file, payload, (err as CommandFailedError).stderr)
    throw err
  }
}

/**
 * Pure. Turns a batch tool's stderr into an error naming the failing line of the payload,
 * with three lines of context either side. Tools report lines differently:
 * iptables-restore "Error occurred at line: N", "line N failed", or, when the kernel itself
 * refuses a table at COMMIT (iptables-nft), "line N: RULE_APPEND failed (…)"; ipset "Error in
 * line N"; ip -batch "Command failed -:N".
 */
export function restoreError(tool: string, payload: string, stderr: string): RestoreRejectedError {
  const match = /Error occurred at line: (\d+)|line (\d+)(?: failed|: [A-Z_]+ failed)|Error in line (\d+)|Command failed -:(\d+)/.exec(stderr)
  const lines = payload.split('\n')
  const detail = stderr.trim().split('\n').filter((l) => !/^Try `|^Error occurred at line/.test(l))[0] ?? stderr.trim()
  if (match === null) return new RestoreRejectedError(tool, null, null, [], detail, payload)
  const line = Number(match[1] ?? match[2] ?? match[3] ?? match[4])
  const context = lines.slice(Math.max(0, line - 4), line + 3)
  return new RestoreRejectedError(tool, line, lines[line - 1] ?? null, context, detail, payload)
}
