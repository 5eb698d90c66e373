import { conntrackStage } from './conntrack.ts'
import { createIptablesStage } from './iptables.ts'
import { ipsetStage } from './ipset.ts'
import { netStage } from './net.ts'
import { secgroupStage } from './secgroup.ts'
import type { KernelStage } from './stage.ts'

/**
 * The kernel subsystems routerd writes, in apply order: sets exist before the rules naming
 * them, and are filled while the rules are restored; links, addresses and routes next;
 * conntrack cleanup; a host's security groups (their own sets and chains, role secgroup). Undone
 * in the reverse order. A new tool is one new entry here.
 */
export function routerStages(): KernelStage[] {
  return [ipsetStage, createIptablesStage(), netStage, conntrackStage, secgroupStage] as KernelStage[]
}
