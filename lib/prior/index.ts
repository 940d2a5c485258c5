export type { Denoiser } from './denoiser';
export { GaussianRandomFieldPrior } from './grf-prior';
export type { GaussianRandomFieldPriorOptions } from './grf-prior';
export { GaussianMixturePrior } from './gaussian-mixture';
export type { GaussianMixturePriorOptions } from './gaussian-mixture';
export { karrasSigmas, sampleODE, odeToClean } from './edm';
export type { KarrasOptions, OdeSolver, SampleOptions } from './edm';
