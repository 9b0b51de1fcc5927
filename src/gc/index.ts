// Garbage collection (docs/gc.md): what runners use.
export { startRun, runStep, currentRun, readReport, listRuns, probeConditionalWrites, GcBusyError, GcLeaseLostError, GcRefusedError, GC_BUDGET, GC_LEASE_MS, GC_STALE_MS } from "./engine";
export type { GcBudget, GcDeps, GcPhase, GcReport, GcSettings, GcStartOptions, GcStatus, GcStepCost, RetentionPolicy } from "./types";
