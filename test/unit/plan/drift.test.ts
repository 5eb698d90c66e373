import { describe, expect, it } from 'vitest'
import { CleanChains, normalizeRule, setDrift, splitArgs, tableDrift, type KernelTable } from '../../../src/router/plan/drift.ts'
import type { RenderedTable } from '../../../src/router/render/iptables/table.ts'

describe('normalizeRule', () => {
  const same: { name: string; rendered: string; kernel: string }[] = [
    { name: 'quoted comment', rendered: '-m comment --comment svm:pf:a -j DNAT --to-destination 10.1.1.11', kernel: '-m comment --comment "svm:pf:a" -j DNAT --to-destination 10.1.1.11' },
    { name: 'addresses and protocol moved first', rendered: '-p tcp -m tcp --dport 8080 -s 192.0.2.0/24 -m comment --comment svm:pf:b -j ACCEPT', kernel: '-s 192.0.2.0/24 -p tcp -m tcp --dport 8080 -m comment --comment "svm:pf:b" -j ACCEPT' },
    { name: 'a set match placed before the implicit tcp module', rendered: '-s 10.1.1.0/24 -m set --match-set svm-D-x dst -p tcp -m tcp --dport 80 -j ACCEPT', kernel: '-s 10.1.1.0/24 -p tcp -m set --match-set svm-D-x dst -m tcp --dport 80 -j ACCEPT' },
    { name: 'an implicit module added by the kernel', rendered: '-p udp --dport 53 -j ACCEPT', kernel: '-p udp -m udp --dport 53 -j ACCEPT' },
    { name: 'a bare address gets /32', rendered: '-d 203.0.113.12 -j SVM-X', kernel: '-d 203.0.113.12/32 -j SVM-X' },
    { name: 'long option names', rendered: '--source 10.0.0.0/8 --jump ACCEPT', kernel: '-s 10.0.0.0/8 -j ACCEPT' },
    { name: 'negation kept with its option', rendered: '! -s 10.0.0.0/8 -j DROP', kernel: '! -s 10.0.0.0/8 -j DROP' },
  ]
  for (const c of same) it(`the same rule: ${c.name}`, () => expect(normalizeRule(c.kernel)).toBe(normalizeRule(c.rendered)))

  const different: { name: string; a: string; b: string }[] = [
    { name: 'another DNAT target', a: '-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.1.10:80', b: '-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.1.99:6666' },
    { name: 'another port', a: '-p tcp -m tcp --dport 22 -j ACCEPT', b: '-p tcp -m tcp --dport 23 -j ACCEPT' },
    { name: 'source and destination swapped', a: '-s 10.0.0.0/8 -d 192.0.2.0/24 -j ACCEPT', b: '-s 192.0.2.0/24 -d 10.0.0.0/8 -j ACCEPT' },
    { name: 'a negation added', a: '-s 10.0.0.0/8 -j ACCEPT', b: '! -s 10.0.0.0/8 -j ACCEPT' },
    { name: 'another verdict', a: '-s 10.0.0.0/8 -j ACCEPT', b: '-s 10.0.0.0/8 -j DROP' },
    { name: 'another protocol', a: '-p tcp -m tcp --dport 53 -j ACCEPT', b: '-p udp -m udp --dport 53 -j ACCEPT' },
    { name: 'a match removed', a: '-s 10.0.0.0/8 -p tcp -j ACCEPT', b: '-p tcp -j ACCEPT' },
  ]
  for (const c of different) it(`a different rule: ${c.name}`, () => expect(normalizeRule(c.a)).not.toBe(normalizeRule(c.b)))

  it('splitArgs honours quotes and escapes', () => {
    expect(splitArgs('-m comment --comment "a b\\"c" -j X')).toEqual(['-m', 'comment', '--comment', 'a b"c', '-j', 'X'])
  })
})

const table = (chains: [string, string[]][], unordered: string[] = []): RenderedTable => ({
  name: 'nat', builtins: { PREROUTING: { policy: 'ACCEPT', rules: ['-j SVM-A'] } }, chains: new Map(chains), banners: new Map(), unordered: new Set(unordered),
})
const kernel = (chains: [string, string[]][]): KernelTable => ({
  chains: new Map([['PREROUTING', ['-j SVM-A']], ...chains]), policies: new Map([['PREROUTING', 'ACCEPT']]),
})

describe('tableDrift', () => {
  it('none when only the kernel\'s spelling differs', () => {
    expect(tableDrift(table([['SVM-A', ['-d 1.2.3.4 -j DNAT --to-destination 10.0.0.1']]]), kernel([['SVM-A', ['-d 1.2.3.4/32 -j DNAT --to-destination 10.0.0.1']]]))).toEqual([])
  })

  it('a rule rewritten in place (same count) is named both ways', () => {
    expect(tableDrift(table([['SVM-A', ['-j DNAT --to-destination 10.0.0.1']]]), kernel([['SVM-A', ['-j DNAT --to-destination 10.0.0.9']]]))).toEqual([
      'nat/SVM-A: kernel has unexpected "-j DNAT --to-destination 10.0.0.9"',
      'nat/SVM-A: kernel lacks "-j DNAT --to-destination 10.0.0.1"',
    ])
  })

  it('order counts in an ordered chain, not in an unordered one', () => {
    const rules = ['-s 10.0.0.1/32 -j ACCEPT', '-j DROP']
    const reversed = [...rules].reverse()
    expect(tableDrift(table([['SVM-A', rules]]), kernel([['SVM-A', reversed]]))).toEqual(['nat/SVM-A: rules in another order'])
    expect(tableDrift(table([['SVM-A', rules]], ['SVM-A']), kernel([['SVM-A', reversed]]))).toEqual([])
  })

  it('missing and foreign chains, built-in jumps and policies', () => {
    const k: KernelTable = { chains: new Map([['PREROUTING', []], ['SVM-EVIL', []]]), policies: new Map([['PREROUTING', 'DROP']]) }
    expect(tableDrift(table([['SVM-A', []]]), k)).toEqual([
      'nat/PREROUTING: policy DROP, want ACCEPT', 'nat/PREROUTING: kernel lacks "-j SVM-A"', 'nat/SVM-A missing', 'nat/SVM-EVIL foreign',
    ])
  })
})

describe('tableDrift with the clean-chain memo', () => {
  it('never hides a change: the kernel text or the rendering changed means the chain is compared again', () => {
    const memo = new CleanChains()
    const rules = ['-j DNAT --to-destination 10.0.0.1']
    const check = (t: RenderedTable, k: KernelTable) => { memo.next(); return tableDrift(t, k, memo) }
    const rendered = table([['SVM-A', rules]])
    expect(check(rendered, kernel([['SVM-A', ['-j DNAT --to-destination 10.0.0.1']]]))).toEqual([])
    expect(check(rendered, kernel([['SVM-A', ['-j DNAT --to-destination 10.0.0.1']]]))).toEqual([])
    expect(check(rendered, kernel([['SVM-A', ['-j DNAT --to-destination 10.0.0.9']]]))).toHaveLength(2)
    expect(check(rendered, kernel([['SVM-A', ['-j DNAT --to-destination 10.0.0.1']]]))).toEqual([])
    // A new rendering (another array) against the kernel text that matched the old one.
    expect(check(table([['SVM-A', ['-j DNAT --to-destination 10.0.0.2']]]), kernel([['SVM-A', ['-j DNAT --to-destination 10.0.0.1']]]))).toHaveLength(2)
  })
})

describe('setDrift', () => {
  const options = { want: new Map([['svm-a', 'hash:net family inet maxelem 65536']]), have: new Map([['svm-a', 'hash:net family inet maxelem 65536']]) }
  it('a member swapped for another (same count) is named both ways', () => {
    expect(setDrift(new Map([['svm-a', ['10.0.0.0/8', '192.0.2.0/24']]]), new Map([['svm-a', ['10.0.0.0/8', '198.51.100.0/24']]]), options)).toEqual([
      'ipset svm-a: kernel has unexpected member 198.51.100.0/24', 'ipset svm-a: kernel lacks member 192.0.2.0/24',
    ])
  })
  it('none when only the order differs; a missing set; other options', () => {
    expect(setDrift(new Map([['svm-a', ['b', 'a']]]), new Map([['svm-a', ['a', 'b']]]), options)).toEqual([])
    expect(setDrift(new Map([['svm-a', []]]), new Map(), options)).toEqual(['ipset svm-a missing'])
    expect(setDrift(new Map([['svm-a', []]]), new Map([['svm-a', []]]), { ...options, have: new Map([['svm-a', 'hash:ip family inet maxelem 65536']]) }))
      .toEqual(['ipset svm-a: created as "hash:ip family inet maxelem 65536", want "hash:net family inet maxelem 65536"'])
  })
})
