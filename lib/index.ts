// enkg: Ensemble Kalman Diffusion Guidance for Node.js.
export { backends, resolveBackend } from './backend';
export type { BackendInfo, BackendName, BackendOption } from './backend';
export * from './ensemble';
export { randomNormal, randomUniform, philox4x32 } from './random';
export type { RandomArgs } from './random';
export { NavierStokes2D } from './problems/navier-stokes';
export type { NavierStokes2DOptions, SolveDetails } from './problems/navier-stokes';
export { gaussianRandomField } from './problems/grf';
export type { GaussianRandomFieldArgs } from './problems/grf';
export { ForwardEvaluationError } from './problems/forward-model';
export type { ForwardModel, SampleFailure } from './problems/forward-model';
export { readNpy, writeNpy, decodeNpy, encodeNpy, NpyWriter } from './io/npy';
export type { NpyArray, NpyContents, NpyDtype } from './io/npy';
export { encodePng, fieldGridPng, colorOf } from './io/png';
export type { ColorMap, GridOptions } from './io/png';
export * from './prior';
export { energySpectrum, dealiasedShell } from './metrics/spectrum';
export { version } from './version';
