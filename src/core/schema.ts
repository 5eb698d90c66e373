import { Compile } from 'typebox/compile'
import type { TSchema } from 'typebox'
import { Settings } from 'typebox/system'
import type { Diagnostic } from './errors.ts'

/**
 * Schema validation turned into diagnostics: one per JSON path, unknown fields named as such.
 * Compiled validators are cached per schema object.
 */

// TypeBox stops collecting at 8 errors; a rejected document lists every problem, up to a bound
// that keeps a hostile body's answer small.
export const MAX_SCHEMA_ERRORS = 1000
Settings.Set({ maxErrors: MAX_SCHEMA_ERRORS })

interface SchemaError { keyword: string; instancePath: string; message: string; params: Record<string, unknown> }

// A WeakMap, not core/memo.ts: TypeBox copies a schema's own symbol properties when it derives
// schemas from it (Partial, Pick…), so a validator kept on a schema would pass to schemas that
// need another.
const validators = new WeakMap<TSchema, ReturnType<typeof Compile>>()

function validatorFor(schema: TSchema): ReturnType<typeof Compile> {
  let v = validators.get(schema)
  if (v === undefined) {
    v = Compile(schema)
    validators.set(schema, v)
  }
  return v
}

/** Pure. Diagnostics for everything in `value` that does not match `schema`, prefixed by `basePath`. */
export function schemaDiagnostics(schema: TSchema, value: unknown, basePath = ''): Diagnostic[] {
  const validator = validatorFor(schema)
  if (validator.Check(value)) return []
  const byPath = new Map<string, { code: string; messages: string[] }>()
  for (const e of validator.Errors(value) as Iterable<SchemaError>) {
    // additionalProperties reports twice: once on the parent (skipped) and once as a false schema on the field.
    if (e.keyword === 'additionalProperties') continue
    const unknownField = e.keyword === 'boolean'
    const path = basePath + e.instancePath
    const code = unknownField ? 'ERR_UNKNOWN_FIELD' : 'ERR_SCHEMA'
    const message = unknownField ? 'unknown field' : e.keyword === 'const' ? `must be ${JSON.stringify(e.params['allowedValue'] ?? e.params['const'])}` : e.message
    const entry = byPath.get(path)
    if (entry === undefined) byPath.set(path, { code, messages: [message] })
    else if (!entry.messages.includes(message)) entry.messages.push(message)
  }
  return [...byPath].map(([path, { code, messages }]) => ({
    severity: 'error' as const, path, code,
    message: messages.filter((m) => m !== 'must match a schema in anyOf').join(' or ') || messages.join('; '),
  }))
}
