import { describe, expect, it } from 'vitest'
import { planIpsets } from '../../../src/plan/ipset.ts'

const set = (name: string, entries: string[]) => ({ name, type: 'hash:net' as const, entries, owner: name })
const owned = (n: string) => n.startsWith('svm-')

describe('planIpsets', () => {
  it('creates new sets, rebuilds changed ones under a temporary name and swaps after all creates, destroys vanished ones after', () => {
    const current = new Map([['svm-a', ['10.0.0.0/8']], ['svm-b', ['1.0.0.0/8']], ['svm-gone', []], ['foreign', []]])
    const plan = planIpsets(current, [set('svm-a', ['10.0.0.0/8']), set('svm-b', ['2.0.0.0/8', '1.0.0.0/8']), set('svm-c', ['3.0.0.0/8'])], owned)
    expect(plan.before.split('\n').filter(Boolean)).toEqual([
      'create svm-b-n hash:net family inet hashsize 1024 maxelem 65536',
      'add svm-b-n 1.0.0.0/8',
      'add svm-b-n 2.0.0.0/8',
      'create svm-c hash:net family inet hashsize 1024 maxelem 65536',
      'add svm-c 3.0.0.0/8',
      'swap svm-b-n svm-b',
      'destroy svm-b-n',
    ])
    expect(plan.after).toBe('destroy svm-gone\n')
    expect(plan.created).toEqual([{ name: 'svm-b-n', line: 1 }, { name: 'svm-c', line: 4 }])
  })
})
