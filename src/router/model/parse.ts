import type { Static } from 'typebox'
import type { Diagnostic } from '../../core/errors.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import { COLLECTIONS, completeConfig, RouterConfigInput, type CollectionName, type RouterConfig } from './config.ts'
import { checkConfig } from './check.ts'
import type { HostFacts } from './facts.ts'
import { roleDiagnostics, type RoleName } from './roles.ts'

export type ValidationResult =
  | { ok: true; config: RouterConfig; warnings: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] }

/**
 * Pure. Schema then semantic validation of a whole document, as a client sends it (collections
 * may be left out) or as stored, for a daemon of `role`.
 */
export function validateConfig(value: unknown, facts?: HostFacts, role: RoleName = 'router'): ValidationResult {
  const schemaProblems = schemaDiagnostics(RouterConfigInput, value)
  if (schemaProblems.length > 0) return { ok: false, diagnostics: schemaProblems }
  const config = completeConfig(value as Static<typeof RouterConfigInput>)
  const outsideRole = roleDiagnostics(config, role)
  if (outsideRole.length > 0) return { ok: false, diagnostics: outsideRole }
  const diagnostics = checkConfig(config, facts)
  const errors = diagnostics.filter((d) => d.severity === 'error')
  if (errors.length > 0) return { ok: false, diagnostics }
  return { ok: true, config, warnings: diagnostics }
}

/**
 * Pure. Schema diagnostics for one item of a collection sent to `/<collection>/<id>`, with
 * paths under `/<collection>/<index>`; its id must be the URL's.
 */
export function validateItem(collection: CollectionName, value: unknown, path: string, id: string): Diagnostic[] {
  const problems = schemaDiagnostics(COLLECTIONS[collection], value, path)
  if (problems.length > 0) return problems
  const given = (value as { id: string }).id
  if (given !== id) return [{ severity: 'error', path: `${path}/id`, code: 'ERR_ID_MISMATCH', message: `body id "${given}" differs from the URL's "${id}"` }]
  return []
}
