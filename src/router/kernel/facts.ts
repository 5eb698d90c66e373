import type { HostFacts } from '../model/facts.ts'
import type { Runner } from '../../core/exec.ts'
import { readLinks } from './ip.ts'

/** Reads the host facts the renderers need. */
export async function readFacts(runner: Runner, controlPorts: readonly number[]): Promise<HostFacts> {
  const links = await readLinks(runner)
  return {
    links: links
      .filter((l) => l.address !== undefined && l.link_type === 'ether')
      .map((l) => ({ name: l.ifname, mac: (l.address as string).toLowerCase(), ifindex: l.ifindex }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    controlPorts: [...controlPorts],
  }
}
