import { describe, expect, it } from 'vitest'
import { planSecGroups, secGroupDrift } from '../../../src/router/secgroup/plan.ts'
import { renderSecGroups } from '../../../src/router/secgroup/render.ts'

const doc = {
  ports: [{ id: 'p1', device: 'vnet1', mac: '52:54:00:00:00:01', ipv4: ['10.0.0.1'], groups: ['g'] }],
  securityGroups: [{ id: 'g' }],
  securityGroupRules: [{ id: 'r', group: 'g', direction: 'ingress' as const, protocol: 'tcp' as const, ports: { start: 22 }, remoteGroup: 'g' }],
}
const empty = { ipv4: '', ipv6: '', ebtables: '', sets: [] }

describe('planSecGroups (pure)', () => {
  it('on a host with nothing of ours: every chain declared, the jumps inserted at the head, nothing deleted', () => {
    const r = renderSecGroups(doc)
    const plan = planSecGroups(r, empty)
    expect(plan.ipv4).toContain('-I FORWARD 1 -j SVM-SG-FWD\n-I INPUT 1 -j SVM-SG-IN\nCOMMIT\n')
    expect(plan.ebtables).toContain('-I FORWARD 1 -j SVM-SG-EB\n-I INPUT 1 -j SVM-SG-EB\nCOMMIT\n')
    expect(plan.ipv4).not.toMatch(/^-X /m)
    expect(plan.ipsets).toBe(r.ipsets)
    expect(plan.destroySets).toBe('')
  })

  it('against what it applied: no jump twice; our chains and sets the rendering dropped are deleted, foreign ones never named', () => {
    const before = renderSecGroups(doc)
    const after = renderSecGroups({ ...doc, ports: [], securityGroupRules: [] })
    const save = (text: string, hooks: string) => text.replace('COMMIT\n', `${hooks}COMMIT\n`).replace('*filter\n', '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:LIBVIRT_FWI - [0:0]\n')
    const kernel = {
      ipv4: save(before.ipv4, '-A FORWARD -j SVM-SG-FWD\n-A INPUT -j SVM-SG-IN\n-A FORWARD -j LIBVIRT_FWI\n'),
      ipv6: save(before.ipv6, '-A FORWARD -j SVM-SG-FWD\n-A INPUT -j SVM-SG-IN\n'),
      ebtables: save(before.ebtables.replace(/^-F .*\n/gm, ''), '-A FORWARD -j SVM-SG-EB\n-A INPUT -j SVM-SG-EB\n'),
      sets: ['svm-sg-old', 'libvirt-set', ...before.ipsets.split('\n').filter((l) => l.startsWith('create svm-sg-')).map((l) => l.split(' ')[1] as string)],
    }
    expect(secGroupDrift(before, kernel)).toEqual([])
    const plan = planSecGroups(after, kernel)
    expect(plan.ipv4).not.toContain('-I ')
    expect(plan.ipv4).toMatch(/^-F SVM-SGI-\S+\n/m)
    expect(plan.ipv4).toMatch(/^-X SVM-SGI-\S+\n/m)
    expect(plan.ipv4).not.toContain('LIBVIRT')
    expect(plan.ebtables).toMatch(/^-X SVM-SGM-\S+\n/m)
    expect(plan.destroySets.split('\n').filter(Boolean).sort()).toEqual(kernel.sets.filter((s) => s.startsWith('svm-sg')).map((s) => `destroy ${s}`).sort())
    expect(secGroupDrift(after, kernel)).toEqual(expect.arrayContaining([expect.stringMatching(/^iptables SVM-SGI-\S+: not rendered$/)]))
  })
})
