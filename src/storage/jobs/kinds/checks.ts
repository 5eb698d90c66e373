import type { Diagnostic } from '../../../core/errors.ts'
import { errorCode } from '../../../core/errors.ts'
import { checkEntityId } from '../../layout/identifiers.ts'
import { layoutPlace, type LayoutPlace } from '../../install/record.ts'

/** Pure. The diagnostics job kinds share: a store that is configured, a path of the layout, ids that can name directories. */

export function storeProblem(path: string, id: string, stores: ReadonlySet<string>): Diagnostic[] {
  return stores.has(id) ? [] : [{ severity: 'error', path, code: 'ERR_NO_SUCH_STORE', message: `no store "${id}" in the config` }]
}

export function placeProblem(path: string, relative: string, allowed: readonly LayoutPlace['kind'][], what: string): Diagnostic[] {
  const place = layoutPlace(relative)
  if (place === null || !allowed.includes(place.kind)) {
    return [{ severity: 'error', path, code: 'ERR_PATH_OUTSIDE_LAYOUT', message: `${JSON.stringify(relative)} is not ${what}` }]
  }
  return []
}

export function idProblems(request: { accountId: number; id: number }): Diagnostic[] {
  const out: Diagnostic[] = []
  for (const key of ['accountId', 'id'] as const) {
    try {
      checkEntityId(request[key], key)
    } catch (err) {
      out.push({ severity: 'error', path: `/${key}`, code: errorCode(err) ?? 'ERR_BAD_ID', message: (err as Error).message })
    }
  }
  return out
}
