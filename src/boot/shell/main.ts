#!/usr/bin/env node
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { binary, run } from '../../core/exec.ts'
import { parseBootLine } from '../cmdline.ts'
import { BOOT_PATHS, bootFiles, hostRoutesBatch, IP6TABLES_RULES, type BootFile } from '../files.ts'
import { translateBootLine } from '../translate.ts'
import { readBootLine } from './read.ts'

/**
 * systemvm-boot: the image's first unit (appliance/systemvm-boot.service, before routerd,
 * storaged and sshd). Reads the boot line, translates it (../translate.ts) and writes what it
 * says (../files.ts); a line with any problem fails the boot loudly, every problem naming its
 * key, on the console and in the journal, and no daemon starts (their units require this one).
 */
async function main(): Promise<void> {
  const source = readBootLine()
  const plan = translateBootLine(parseBootLine(source.text))
  if (plan.problems.length > 0 || plan.host === undefined) {
    process.stderr.write(`systemvm-boot: the boot line in ${source.path} cannot be used; nothing is started:\n`)
    for (const p of plan.problems) process.stderr.write(`systemvm-boot: ${p.key}: ${p.message} [${p.code}]\n`)
    process.exitCode = 1
    return
  }
  for (const file of bootFiles(plan)) writeAtomically(file)
  for (const tokenFile of [plan.routerd?.daemonConfig.tokenFile, plan.storaged?.daemonConfig.tokenFile]) {
    if (tokenFile !== undefined) ensureToken(tokenFile)
  }
  await run(binary('hostname'), [plan.host.hostname])
  await run(binary('ip6tables-restore'), [`${BOOT_PATHS.run}/${IP6TABLES_RULES}`])
  const batch = hostRoutesBatch(plan)
  if (batch !== '') await run(binary('ip'), ['-batch', '-'], { stdin: batch })
  const daemons = [plan.routerd === undefined ? '' : `routerd (${plan.routerd.daemonConfig.role})`, plan.storaged === undefined ? '' : 'storaged'].filter((d) => d !== '')
  process.stdout.write(`systemvm-boot: type=${plan.type ?? ''} from ${source.path}: ${plan.host.hostname}, ${daemons.join(' and ')}\n`)
}

/** Written whole or not at all: a temp file beside it, then a rename. */
function writeAtomically(file: BootFile): void {
  mkdirSync(dirname(file.path), { recursive: true, mode: 0o755 })
  const temp = `${file.path}.boot-${process.pid}`
  writeFileSync(temp, file.content, { mode: file.mode })
  renameSync(temp, file.path)
}

/** The daemon's API token, made once (random, 0600) and kept across boots: the orchestrator reads it over SSH. */
function ensureToken(path: string): void {
  if (existsSync(path)) return
  writeAtomically({ path, content: `${randomBytes(32).toString('hex')}\n`, mode: 0o600 })
}

main().catch((err: unknown) => {
  process.stderr.write(`systemvm-boot: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
