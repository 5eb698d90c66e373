/**
 * The appliance's error hierarchy. Every error carries a stable `code` (never renamed once
 * shipped; the catalogue is in README.md); callers compare by `code`, not by `instanceof`.
 */

export type Severity = 'error' | 'warning'

/** One problem found in a config document: where (JSON pointer), a stable code and a sentence. */
export interface Diagnostic {
  severity: Severity
  path: string
  code: string
  message: string
}

export class ApplianceError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A config document or item that failed validation; nothing was applied or stored. */
export class InvalidConfigError extends ApplianceError {
  readonly diagnostics: readonly Diagnostic[]
  constructor(diagnostics: readonly Diagnostic[]) {
    super('ERR_CONFIG_INVALID', `config rejected: ${diagnostics.filter((d) => d.severity === 'error').length} problem(s)`)
    this.diagnostics = diagnostics
  }
}

export class CommandFailedError extends ApplianceError {
  readonly file: string
  readonly args: readonly string[]
  readonly exitCode: number | null
  readonly stderr: string
  constructor(file: string, args: readonly string[], exitCode: number | null, stderr: string) {
    super('ERR_COMMAND_FAILED', `${file} exited with ${exitCode}: ${stderr.trim().split('\n')[0] ?? ''}`)
    this.file = file
    this.args = args
    this.exitCode = exitCode
    this.stderr = stderr
  }
}

export class CommandTimeoutError extends ApplianceError {
  constructor(file: string, timeoutMs: number) {
    super('ERR_COMMAND_TIMEOUT', `${file} did not finish within ${timeoutMs} ms`)
  }
}

/** A batch (iptables-restore, ipset restore, ip -batch) the kernel or tool refused. */
export class RestoreRejectedError extends ApplianceError {
  readonly tool: string
  readonly line: number | null
  readonly lineText: string | null
  readonly context: readonly string[]
  /** The whole batch, for the post-mortem file; not enumerable so logs carry only the context. */
  declare readonly payload: string
  constructor(tool: string, line: number | null, lineText: string | null, context: readonly string[], detail: string, payload = '') {
    super('ERR_KERNEL_REJECTED',
      line === null ? `${tool} rejected the batch: ${detail}` : `${tool} rejected line ${line}: ${lineText ?? ''} (${detail})`)
    this.tool = tool
    this.line = line
    this.lineText = lineText
    this.context = context
    Object.defineProperty(this, 'payload', { value: payload, enumerable: false })
  }
}

export class NotFoundError extends ApplianceError {
  constructor(what: string) {
    super('ERR_NOT_FOUND', `${what} not found`)
  }
}

/** The caller's view of the config is stale (If-Match on the generation did not match). */
export class ConflictError extends ApplianceError {
  constructor(message: string) {
    super('ERR_CONFLICT', message)
  }
}

/** Too many edits are queued: the client should retry later (HTTP 429). */
export class BusyError extends ApplianceError {
  constructor(message: string) {
    super('ERR_BUSY', message)
  }
}

export class StoreError extends ApplianceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_CORRUPT', message, options)
  }
}

/** Reads `code` off anything thrown, without relying on instanceof across module copies. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code
  }
  return undefined
}

export function assertNever(value: never): never {
  throw new ApplianceError('ERR_INTERNAL', `unexpected variant: ${JSON.stringify(value)}`)
}
