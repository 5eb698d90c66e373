import type { Diagnostic } from '../../core/errors.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import { COLLECTIONS, RouterConfig, type CollectionName } from './config.ts'
import { checkConfig } from './check.ts'
import type { HostFacts } from './facts.ts'

export type ValidationResult =
  | { ok: true; config: RouterConfig; warnings: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] }

/** Pure. Schema then semantic validation of a whole document. */
export function validateConfig(value: unknown, facts?: HostFacts): ValidationResult {
  const schemaProblems = schemaDiagnostics(RouterConfig, value)
  if (schemaProblems.length > 0) return { ok: false, diagnostics: schemaProblems }
  const config = value as RouterConfig
  const diagnostics = checkConfig(config, facts)
  const errors = diagnostics.filter((d) => d.severity === 'error')
  if (errors.length > 0) return { ok: false, diagnostics }
  return { ok: true, config, warnings: diagnostics }
}

/** Pure. Schema diagnostics for one item of a collection, with paths under `/<collection>/<index>`. */
export function validateItem(collection: CollectionName, value: unknown, path: string): Diagnostic[] {
  return schemaDiagnostics(COLLECTIONS[collection], value, path)
}
