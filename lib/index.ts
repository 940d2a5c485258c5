// enkg: Ensemble Kalman Diffusion Guidance for Node.js.
export { backends, cudaLibraries, resolveBackend } from './backend';
export type { BackendInfo, BackendName, BackendOption, CudaLibraryInfo } from './backend';
export * from './ensemble';
export { randomNormal, randomUniform, philox4x32 } from './random';
export type { RandomArgs } from './random';
export { NavierStokes2D, STEP_BUDGET_PER_CELL_TIME } from './problems/navier-stokes';
export type { NavierStokes2DOptions, SolveDetails, SolveFieldOptions } from './problems/navier-stokes';
export { gaussianRandomField } from './problems/grf';
export { navierStokesInverseProblem, heldOutField, gridGeometry } from './problems/navier-stokes-inverse';
export type { NavierStokesInverse, NavierStokesInverseOptions } from './problems/navier-stokes-inverse';
export type { GaussianRandomFieldArgs } from './problems/grf';
export { ForwardEvaluationError, ForwardModel } from './problems/forward-model';
export type { ForwardOptions, SampleFailure } from './problems/forward-model';
export { INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER } from './forward';
export type {
  AdapterShape, BatchFunction, FromCommandOptions, FromFunctionOptions, FromWorkersOptions, ForwardRow, ParticleFunction,
  WorkerForwardModel, FromQueueOptions, QueueCallStats, QueueForwardModel,
} from './forward';
export * from './problems/imaging';
export { heldOutImage, readTruthImage } from './problems/imaging/entries';
export { readNpy, writeNpy, decodeNpy, encodeNpy, NpyWriter, readNpyField } from './io/npy';
export { AtomicFile, writeFileAtomic } from './io/atomic-file';
export { openInputFile, readBoundedFile } from './io/input-file';
export type { InputFile, InputFileOptions } from './io/input-file';
export { checkOutputFile, OutputPathError, RunOutput } from './io/run-output';
export type { OutputOptions } from './io/run-output';
export type { NpyArray, NpyContents, NpyDtype } from './io/npy';
export { encodePng, fieldGridPng, colorOf } from './io/png';
export type { ColorMap, GridOptions } from './io/png';
export * from './prior';
export { energySpectrum, dealiasedShell, spectrumRatios } from './metrics/spectrum';
export { relativeL2, relativeL2Async, relativeL2Mean, relativeL2MeanAsync } from './metrics/error';
export { crps, spreadSkillRatio } from './metrics/calibration';
export { panelPng, imagePng } from './io/figure';
export type { PanelImage } from './io/figure';
export { NS_PRIOR_64, NS_HELD_OUT_64, FM_PRIOR_32, FM_TEST_32 } from './paths';
export { version } from './version';
export * from './algorithms';
export { psnr, ssim, imageMetrics, alignForPhaseRetrieval, alignForPhaseRetrievalAsync, SSIM_WINDOW, SSIM_STD, SSIM_C1, SSIM_C2 } from './metrics/image';
export type { ImageShape, ImageMetrics, PaddedFrame, Alignment } from './metrics/image';
export { LpipsNetwork, lpips } from './metrics/lpips';
export type { LpipsOptions } from './metrics/lpips';
