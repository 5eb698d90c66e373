import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RestoreRejectedError } from '../../core/errors.ts'

/**
 * The batch a kernel tool refused, kept in the state directory as
 * `last-failed-<tool>.txt` (the error first, then the whole payload) for whoever investigates:
 * the API answer names the line, this file holds its context.
 */
export function writePostMortem(stateDir: string, rejected: RestoreRejectedError): void {
  const payload = `# ${rejected.message}\n${rejected.payload}`
  try { writeFileSync(join(stateDir, `last-failed-${rejected.tool.replace(/\W+/g, '-')}.txt`), payload) } catch { /* post-mortem only */ }
}
