import type { Diagnostic } from '../../core/errors.ts'
import { emptyConfig, type RouterConfig } from '../model/config.ts'
import type { OpenedStore, StoredState, StoreProblem } from './config-store.ts'

/**
 * Pure. Chooses the state routerd starts with. The stored state is validated like any PUT: a
 * state that fails never reaches the kernel. Then the newest earlier stored state that passes is
 * taken (the journal one line shorter each time, the snapshot, the previous snapshot), and if
 * none does, the empty config: what a fresh appliance starts with. Problems of the host, not
 * of the document (a NIC not plugged in yet), do not make a state invalid: falling back to an
 * older config because a link is late would be worse; they are handled as at any apply.
 */

/** Diagnostics about the host, not the document: they do not make a stored state invalid. */
const HOST_CODES: ReadonlySet<string> = new Set(['ERR_INTERFACE_NOT_FOUND'])

export type Validate = (config: RouterConfig) => { ok: true } | { ok: false; diagnostics: readonly Diagnostic[] }

export interface StartState {
  state: StoredState
  problems: StoreProblem[]
  /**
   * The files cannot be kept as they are (damage, or a state other than the stored one chosen):
   * the caller stores `state` with ConfigStore.replace() before anything is appended.
   */
  rewrite: boolean
}

/** Earlier states tried at most: each try is a whole-document validation. */
const MAX_TRIES = 64

function documentErrors(validate: Validate, config: RouterConfig): Diagnostic[] {
  const result = validate(config)
  if (result.ok) return []
  return result.diagnostics.filter((d) => d.severity === 'error' && !HOST_CODES.has(d.code))
}

function summary(errors: readonly Diagnostic[]): string {
  const shown = errors.slice(0, 5).map((d) => `${d.path} ${d.code}: ${d.message}`).join('; ')
  return errors.length > 5 ? `${shown}; and ${errors.length - 5} more` : shown
}

export function chooseStartState(opened: OpenedStore, validate: Validate): StartState {
  const problems = [...opened.problems]
  // A state stored anew is stored past every generation the files name: a generation number
  // never comes back with other content (e.g. the lines after a damaged one).
  const generation = opened.highestGeneration + 1
  const errors = documentErrors(validate, opened.state.config)
  if (errors.length === 0) {
    if (!opened.damaged) return { state: opened.state, problems, rewrite: false }
    const state = opened.highestGeneration > opened.state.generation ? { generation, config: opened.state.config } : opened.state
    return { state, problems, rewrite: true }
  }
  problems.push({
    code: 'ERR_STORE_INVALID', generation: opened.state.generation,
    message: `stored generation ${opened.state.generation} fails validation: ${summary(errors)}`,
  })
  let tries = 0
  for (const earlier of opened.earlier()) {
    if (++tries > MAX_TRIES) break
    if (documentErrors(validate, earlier.config).length > 0) continue
    problems.push({ code: 'ERR_STORE_FALLBACK', generation, message: `started with stored generation ${earlier.generation}, the newest that passes validation, as generation ${generation}` })
    return { state: { generation, config: earlier.config }, problems, rewrite: true }
  }
  problems.push({ code: 'ERR_STORE_FALLBACK', generation, message: `no stored state passes validation: started with the empty config as generation ${generation}` })
  return { state: { generation, config: emptyConfig() }, problems, rewrite: true }
}
