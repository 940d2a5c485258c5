// enkg: Ensemble Kalman Diffusion Guidance for Node.js.
export { backends, resolveBackend } from './backend';
export type { BackendInfo, BackendName, BackendOption } from './backend';
export * from './ensemble';
export { randomNormal, randomUniform, philox4x32 } from './random';
export type { RandomArgs } from './random';
export { version } from './version';
