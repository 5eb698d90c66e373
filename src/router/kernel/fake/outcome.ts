/**
 * What a fake tool returns: the exit code and output a real process would have produced.
 * FakeKernel turns a code outside the caller's okCodes into the CommandFailedError that
 * core/exec.ts would throw, so the engine's error paths see the same shapes.
 */

export interface ToolOutcome { exitCode: number; stdout: string; stderr: string }

/** An injected failure at one input line of a batch (see faults.ts): the line that fails and the kernel's message. */
export interface LineFault {
  /** Picks the failing line: its 1-based number in the input, and its text. */
  matches(lineNo: number, text: string): boolean
  /** The kernel's reason, as the tool prints it (e.g. "Cannot allocate memory"). */
  message: string | undefined
  /** Called when the fault took effect, so a test can check it was not silently skipped. */
  fired(): void
}

/** Pure. A successful outcome with `stdout`. */
export function ok(stdout = ''): ToolOutcome {
  return { exitCode: 0, stdout, stderr: '' }
}

/** Pure. A failed outcome. */
export function failed(exitCode: number, stderr: string, stdout = ''): ToolOutcome {
  return { exitCode, stdout, stderr }
}

/** Pure. Splits tool input into lines as the tools read them (a trailing newline ends the last line, it does not start another). */
export function inputLines(stdin: string): string[] {
  const lines = stdin.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines
}
