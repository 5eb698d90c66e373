/** In-memory twins of the kernel interfaces routerd drives (see kernel.ts). */
export { FakeKernel, type FakeCall, type FakeKernelOptions, type FakeKernelState } from './kernel.ts'
export type { FakeCallInput, FakeTool, FaultHandle, FaultSpec } from './faults.ts'
export type { FakeLinkSpec } from './net-state.ts'
