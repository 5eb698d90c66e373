import { readFileSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { ApplianceError } from '../core/errors.ts'
import { checkoutRoot } from './checkout.ts'
import { parseUnitFile, unitEnvironment, unitExecStart } from './unit-file.ts'

/**
 * How the lab runs a daemon: exactly as its unit appliance/<name>.service does (node flags,
 * bundle, arguments, Environment=), with the image's paths mapped into the checkout and the
 * `--config` file replaced by the lab's. The unit is the single source of truth: nothing here
 * repeats a flag.
 */

/** The appliance's daemons: each has appliance/<name>.service, and its unit names its bundle under dist/. */
export type DaemonName = 'routerd' | 'storaged'

/** Where the image installs the checkout (the units name paths under it). */
const INSTALL_ROOT = '/opt/systemvm'

export interface DaemonCommand {
  name: DaemonName
  /** The unit it was read from (absolute). */
  unitFile: string
  /** Flags between node and the script. */
  nodeArgs: readonly string[]
  /** The script (the bundle), absolute in the checkout. */
  script: string
  /** The unit's arguments after the script (its own `--config` still in them). */
  args: readonly string[]
  /** The unit's Environment=, added to the lab's own environment. */
  env: Readonly<Record<string, string>>
}

function unsupported(unitFile: string, message: string): ApplianceError {
  return new ApplianceError('ERR_UNIT_UNSUPPORTED', `${unitFile}: ${message}`)
}

/** Pure. The command of unit text `text` (the unit of daemon `name`), with paths under `root`. */
export function daemonCommandFromUnit(name: DaemonName, unitFile: string, text: string, root: string): DaemonCommand {
  const unit = parseUnitFile(text)
  const { argv } = unitExecStart(unit)
  const [node, ...rest] = argv as [string, ...string[]]
  if (!basename(node).startsWith('node')) throw unsupported(unitFile, `ExecStart= runs ${node}, not node`)
  const at = rest.findIndex((arg) => !arg.startsWith('-'))
  const script = rest[at]
  if (script === undefined) throw unsupported(unitFile, 'ExecStart= names no script after the node flags')
  if (!script.startsWith(`${INSTALL_ROOT}/`)) throw unsupported(unitFile, `the script ${script} is not under ${INSTALL_ROOT}`)
  const args = rest.slice(at + 1)
  if (!args.some((arg) => arg === '--config' || arg.startsWith('--config='))) throw unsupported(unitFile, 'ExecStart= passes no --config')
  return {
    name,
    unitFile,
    nodeArgs: rest.slice(0, at),
    script: join(root, script.slice(INSTALL_ROOT.length + 1)),
    args,
    env: unitEnvironment(unit),
  }
}

/** The command of daemon `name`, read from appliance/<name>.service of the checkout at `root`. */
export function readDaemonCommand(name: DaemonName, root = checkoutRoot()): DaemonCommand {
  const unitFile = join(root, 'appliance', `${name}.service`)
  let text: string
  try {
    text = readFileSync(unitFile, 'utf8')
  } catch (err) {
    throw new ApplianceError('ERR_UNIT_MISSING', `cannot read ${unitFile}: ${(err as Error).message}`, { cause: err })
  }
  return daemonCommandFromUnit(name, unitFile, text, root)
}

/** Pure. The argv after node: the unit's flags, then `extraNodeArgs`, the script, and its arguments with `--config configFile`. */
export function daemonArgv(command: DaemonCommand, configFile: string, extraNodeArgs: readonly string[] = []): string[] {
  const args: string[] = []
  for (let i = 0; i < command.args.length; i++) {
    const arg = command.args[i] as string
    if (arg.startsWith('--config=')) args.push(`--config=${configFile}`)
    else if (arg === '--config') {
      args.push(arg, configFile)
      i++
    } else args.push(arg)
  }
  return [...command.nodeArgs, ...extraNodeArgs, command.script, ...args]
}

/** Pure. One line saying what runs, paths relative to `root`: `appliance/routerd.service: VAR=v node <flags> dist/routerd.mjs`. */
export function describeDaemonCommand(command: DaemonCommand, root: string): string {
  const env = Object.entries(command.env).map(([k, v]) => `${k}=${v} `).join('')
  return `${relative(root, command.unitFile)}: ${env}node ${[...command.nodeArgs, relative(root, command.script)].join(' ')}`
}
