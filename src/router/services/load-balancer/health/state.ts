/**
 * Pure. A backend's health as HAProxy keeps it: it starts up (a new backend takes traffic at
 * once), goes down after `fall` failed checks in a row and up again after `rise` passed ones.
 */

export interface CheckResult {
  ok: boolean
  /** e.g. "connect refused", "timeout after 2000 ms", "status 503". */
  detail: string
  /** Epoch ms when the check ended. */
  at: number
  durationMs: number
}

export interface HealthState {
  state: 'up' | 'down'
  /** Epoch ms of the last transition, or of the start. */
  since: number
  last: CheckResult | undefined
  passes: number
  failures: number
}

export function initialHealth(now: number): HealthState {
  return { state: 'up', since: now, last: undefined, passes: 0, failures: 0 }
}

/** Pure. The state after one check result, and the transition it made, if any. */
export function nextHealth(s: HealthState, result: CheckResult, limits: { rise: number; fall: number }): { state: HealthState; transition?: 'up' | 'down' } {
  const passes = result.ok ? s.passes + 1 : 0
  const failures = result.ok ? 0 : s.failures + 1
  if (s.state === 'up' && failures >= limits.fall) return { state: { state: 'down', since: result.at, last: result, passes, failures }, transition: 'down' }
  if (s.state === 'down' && passes >= limits.rise) return { state: { state: 'up', since: result.at, last: result, passes, failures }, transition: 'up' }
  return { state: { ...s, last: result, passes, failures } }
}
