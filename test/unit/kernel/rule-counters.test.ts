import { describe, expect, it } from 'vitest'
import { parseRuleCounters } from '../../../src/router/kernel/rule-counters.ts'

describe('parseRuleCounters', () => {
  it('sums the packet counters of the rules commented svm:<kind>:<id>, quoted or not, and ignores other kinds', () => {
    const saved = [
      '*raw',
      ':PREROUTING ACCEPT [100:6000]',
      '[12:720] -A SVM-ASP-AAAA -s 10.1.1.0/24 -j RETURN',
      '[7:420] -A SVM-ASP-AAAA -m comment --comment svm:antispoof:net1 -j DROP',
      '[3:180] -A SVM-ASP-BBBB -m comment --comment "svm:antispoof:net 2" -j DROP',
      '[5:300] -A SVM-ASP-BBBB -m comment --comment svm:route:r1 -s 172.16.0.0/12 -j RETURN',
      'COMMIT',
    ].join('\n')
    expect([...parseRuleCounters(saved, 'antispoof')]).toEqual([['net1', 7], ['net 2', 3]])
    expect([...parseRuleCounters(saved, 'route')]).toEqual([['r1', 5]])
  })
})
