import { describe, expect, it } from 'vitest'
import { mismatchedSets, planIpsets, setOptions, undoIpsets } from '../../../src/router/plan/ipset.ts'

const set = (name: string, entries: string[]) => ({ name, type: 'hash:net' as const, maxelem: 65536, entries: [...entries].sort(), owner: name })
const owned = (n: string) => n.startsWith('svm-')

describe('planIpsets', () => {
  it('creates new sets, edits changed ones in place, destroys vanished ones after iptables, leaves foreign ones alone', () => {
    const current = new Map([['svm-a', ['10.0.0.0/8']], ['svm-b', ['1.0.0.0/8']], ['svm-gone', []], ['foreign', []]])
    const plan = planIpsets(current, [set('svm-a', ['10.0.0.0/8']), set('svm-b', ['2.0.0.0/8', '1.0.0.0/8']), set('svm-c', ['3.0.0.0/8'])], owned)
    expect(plan.before).toEqual([
      'create svm-c hash:net family inet hashsize 1024 maxelem 65536',
      'add svm-c 3.0.0.0/8',
      'add svm-b 2.0.0.0/8',
    ])
    expect(plan.after).toEqual(['destroy svm-gone'])
  })

  it('a set with many changed members is rebuilt under a temporary name, swapped in after all creates, the temporary destroyed after iptables', () => {
    const many = Array.from({ length: 300 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`)
    const plan = planIpsets(new Map([['svm-a', ['1.0.0.0/8']]]), [set('svm-a', many), set('svm-new', ['3.0.0.0/8'])], owned)
    expect(plan.before[0]).toBe('create svm-a-n hash:net family inet hashsize 1024 maxelem 65536')
    expect(plan.before.at(-1)).toBe('swap svm-a-n svm-a')
    expect(plan.before.indexOf('create svm-new hash:net family inet hashsize 1024 maxelem 65536')).toBeLessThan(plan.before.indexOf('swap svm-a-n svm-a'))
    expect(plan.after).toEqual(['destroy svm-a-n'])
  })

  it('a few changed members are edited in place, deletions first', () => {
    const plan = planIpsets(new Map([['svm-a', ['1.0.0.0/8', '2.0.0.0/8']]]), [set('svm-a', ['2.0.0.0/8', '4.0.0.0/8'])], owned)
    expect(plan.before).toEqual(['del svm-a 1.0.0.0/8', 'add svm-a 4.0.0.0/8'])
  })

  it('undo reverses exactly the lines that ran, last first (a squatted name that failed to create is not destroyed)', () => {
    const plan = planIpsets(new Map([['svm-a', ['1.0.0.0/8', '2.0.0.0/8']]]), [set('svm-a', ['2.0.0.0/8', '4.0.0.0/8']), set('svm-c', ['3.0.0.0/8'])], owned)
    expect(plan.before).toEqual(['create svm-c hash:net family inet hashsize 1024 maxelem 65536', 'add svm-c 3.0.0.0/8', 'del svm-a 1.0.0.0/8', 'add svm-a 4.0.0.0/8'])
    expect(undoIpsets(plan, 4)).toEqual(['del svm-a 4.0.0.0/8', 'add svm-a 1.0.0.0/8', 'destroy svm-c'])
    expect(undoIpsets(plan, 0)).toEqual([])
  })
})

describe('planIpsets member diff', () => {
  const members = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `1.1.1.1,tcp:${from + i}`)
  const s = (name: string, entries: string[]) => ({ name, type: 'hash:ip,port' as const, maxelem: 65536, entries, owner: name })
  const plan = (have: string[], want: string[]) => planIpsets(new Map([['svm-x', have]]), [s('svm-x', want)], owned).before

  it.each([
    ['one appended', members(100), [...members(100), 'x'], ['add svm-x x']],
    ['one removed in the middle', members(100), members(100).filter((_, i) => i !== 40), ['del svm-x 1.1.1.1,tcp:40']],
    ['one replaced in the middle', members(100), members(100).map((m, i) => (i === 40 ? 'y' : m)), ['del svm-x 1.1.1.1,tcp:40', 'add svm-x y']],
    ['reordered and changed (falls back to sets)', members(100), [...members(50, 50).reverse(), 'z', ...members(49)], ['del svm-x 1.1.1.1,tcp:49', 'add svm-x z']],
    ['moved: gone from one place, back in another', members(10), [...members(10).filter((_, i) => i !== 3), '1.1.1.1,tcp:3'], []],
  ])('%s', (_name, have, want, expected) => {
    expect(plan(have, want)).toEqual(expected)
  })
})

describe('mismatchedSets', () => {
  const cases: { name: string; kernel: string; want: string[] }[] = [
    { name: 'the same type and options, whatever hashsize, bucketsize and initval the kernel chose', kernel: 'hash:net family inet hashsize 4096 maxelem 65536 bucketsize 12 initval 0x60ae4ce2', want: [] },
    { name: 'another type', kernel: 'hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1', want: ['svm-a'] },
    { name: 'another maxelem', kernel: 'hash:net family inet hashsize 1024 maxelem 1024 bucketsize 12 initval 0x1', want: ['svm-a'] },
    { name: 'an extra option (a timeout would expire our members)', kernel: 'hash:net family inet hashsize 1024 maxelem 65536 timeout 30 bucketsize 12 initval 0x1', want: ['svm-a'] },
    { name: 'another family', kernel: 'hash:net family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1', want: ['svm-a'] },
  ]
  for (const c of cases) {
    it(c.name, () => {
      expect(mismatchedSets(new Map([['svm-a', c.kernel], ['svm-other', 'hash:ip family inet']]), [set('svm-a', [])])).toEqual(c.want)
    })
  }

  it('setOptions drops only what the kernel picks itself', () => {
    expect(setOptions('hash:ip,port family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x60ae4ce2')).toBe('hash:ip,port family inet maxelem 1048576')
  })
})
