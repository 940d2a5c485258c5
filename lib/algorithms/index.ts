export { EnKG, formatRestarts, parseRestarts } from './enkg';
export type { EnKGOptions, RestartPass } from './enkg';
export { abortError, checkProblem, finished, resultOf, runSteps, runToEnd } from './run';
export { meanAndStd } from '../metrics/moments';
export type {
  Algorithm, CheckpointOption, CostRecord, ForwardFailure, InverseProblem, ProgressEvent, RunState, SolveOptions, SolveResult, StateArray,
  StepHooks, TraceEntry,
} from './run';
export { ALGORITHM_NAMES, ALGORITHM_REGISTRY, algorithmEntry } from './registry';
export { resume, resumeState } from './resume';
export type { ResumeOptions } from './resume';
export {
  CHECKPOINT_FILE, CheckpointError, checkpointPieces, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, problemFingerprint, saveCheckpoint,
} from './checkpoint';
export type { LoadedCheckpoint, ProblemFingerprint } from './checkpoint';
export type { AlgorithmEntry, AlgorithmSettings, AlgorithmSizes, BudgetPlan } from './registry';
export { EKI } from './eki';
export type { EKIOptions, EKIGrfOptions } from './eki';
export { DPSGSG, gaussianSmoothedGradient, gsgDirections } from './dps-gsg';
export type { DPSGSGOptions, GaussianSmoothedGradient, GaussianSmoothedGradientOptions, GsgScheme } from './dps-gsg';
export { DPG } from './dpg';
export type { DPGOptions } from './dpg';
export { SCG } from './scg';
export type { SCGOptions } from './scg';
export { vpSchedule, vpSigma, vpTime } from './vp-schedule';
export type { VPSchedule, VPScheduleOptions } from './vp-schedule';
export { denoiserVjp, finiteDifferenceStep, FD_EPSILON } from './jacobian';
export type { JacobianMethod, VjpOptions } from './jacobian';
export { AbortOnFailure, ExcludeFailures, failurePolicy, GaussianNoiseMisfit, L2Misfit, ResampleFailures } from './policies';
export type { FailurePolicy, FailurePolicyOptions, MisfitModel } from './policies';
export { solveMany } from './solve-many';
export type { SolveManyOptions } from './solve-many';
export { gaspariCohn, localizedKalmanStep, taperMatrix } from './localization';
export type { LocalizationMethod, LocalizationOptions, ProblemGeometry, StepNormalization } from './localization';
export { chooseLocalizationMethod, gridLayout, localizedKalmanStepNative, taperKernel } from './localized-step';
export type { GridLayout, LocalizedKalmanStepArgs, LocalizedKalmanStepResult } from './localized-step';
export { DPS } from './dps';
export type { DPSOptions } from './dps';
export { regularizedResiduals, relaxDeviations, secFactors } from './corrections';
export type { CorrectionOptions, RegularizedGainOptions } from './corrections';
