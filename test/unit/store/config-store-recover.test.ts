import { describe, expect, it } from 'vitest'
import type { Diagnostic } from '../../../src/core/errors.ts'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import type { OpenedStore, StoredState } from '../../../src/router/store/config-store.ts'
import { chooseStartState, type Validate } from '../../../src/router/store/recover.ts'

const route = (id: string) => ({ id, cidr: '172.16.0.0/12', via: '10.0.0.1' })
const state = (generation: number, ids: string[]): StoredState => ({ generation, config: { ...emptyConfig(), staticRoutes: ids.map(route) } })
const opened = (current: StoredState, earlier: StoredState[], extra: Partial<OpenedStore> = {}): OpenedStore => ({
  state: current, problems: [], highestGeneration: current.generation, damaged: false,
  *earlier() { yield* earlier },
  ...extra,
})
const error = (code: string): Diagnostic => ({ severity: 'error', path: '/staticRoutes/0', code, message: 'bad' })
/** Valid unless a route id starts with "bad". */
const validate: Validate = (config: RouterConfig) => {
  const bad = config.staticRoutes.filter((r) => r.id.startsWith('bad'))
  return bad.length === 0 ? { ok: true } : { ok: false, diagnostics: bad.map(() => error('ERR_SCHEMA')) }
}

describe('chooseStartState', () => {
  const cases: { name: string; store: OpenedStore; validate?: Validate; want: { generation: number; ids: string[]; rewrite: boolean; codes: string[] } }[] = [
    {
      name: 'a valid stored state is kept as it is, nothing rewritten',
      store: opened(state(4, ['a', 'b']), [state(3, ['a'])]),
      want: { generation: 4, ids: ['a', 'b'], rewrite: false, codes: [] },
    },
    {
      name: 'an invalid stored state falls back to the newest earlier state that passes, stored past the highest generation',
      store: opened(state(5, ['a', 'bad1', 'bad2']), [state(4, ['a', 'bad1']), state(3, ['a']), state(2, [])], { highestGeneration: 7 }),
      want: { generation: 8, ids: ['a'], rewrite: true, codes: ['ERR_STORE_INVALID', 'ERR_STORE_FALLBACK'] },
    },
    {
      name: 'no valid state at all: the empty config',
      store: opened(state(2, ['bad']), [state(1, ['bad'])]),
      want: { generation: 3, ids: [], rewrite: true, codes: ['ERR_STORE_INVALID', 'ERR_STORE_FALLBACK'] },
    },
    {
      name: 'damaged files with a valid state: that state, rewritten, the damage still reported',
      store: opened(state(3, ['a']), [], { damaged: true, problems: [{ code: 'ERR_STORE_CORRUPT', message: 'line 4' }] }),
      want: { generation: 3, ids: ['a'], rewrite: true, codes: ['ERR_STORE_CORRUPT'] },
    },
    {
      name: 'damaged files naming later generations than the state read: stored past them',
      store: opened(state(3, ['a']), [], { damaged: true, highestGeneration: 6, problems: [{ code: 'ERR_STORE_CORRUPT', message: 'line 4' }] }),
      want: { generation: 7, ids: ['a'], rewrite: true, codes: ['ERR_STORE_CORRUPT'] },
    },
    {
      name: 'a NIC missing on this host does not make a stored state invalid',
      store: opened(state(3, ['a']), [state(2, [])]),
      validate: () => ({ ok: false, diagnostics: [error('ERR_INTERFACE_NOT_FOUND')] }),
      want: { generation: 3, ids: ['a'], rewrite: false, codes: [] },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const chosen = chooseStartState(c.store, c.validate ?? validate)
      expect({
        generation: chosen.state.generation, ids: chosen.state.config.staticRoutes.map((r) => r.id),
        rewrite: chosen.rewrite, codes: chosen.problems.map((p) => p.code),
      }).toEqual(c.want)
    })
  }

  it('stops looking after 64 earlier states', () => {
    let asked = 0
    const store = opened(state(100, ['bad']), [])
    store.earlier = function* () { for (let g = 99; g > 0; g--) { asked++; yield state(g, ['bad']) } }
    expect(chooseStartState(store, validate).state.config).toEqual(emptyConfig())
    expect(asked).toBeLessThanOrEqual(65)
  })
})
