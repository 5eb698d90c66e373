import type { Diagnostic } from '../../../core/errors.ts'

/**
 * How every semantic check reports a problem: the JSON pointer of the field at fault, a stable
 * code and a sentence. Checks never stop at the first problem; the caller owns the list.
 */
export type Push = (path: string, code: string, message: string, severity?: Diagnostic['severity']) => void

/** A Push appending to `diagnostics` in call order. Pure apart from that list. */
export function collector(): { diagnostics: Diagnostic[]; push: Push } {
  const diagnostics: Diagnostic[] = []
  const push: Push = (path, code, message, severity = 'error') => { diagnostics.push({ severity, path, code, message }) }
  return { diagnostics, push }
}
