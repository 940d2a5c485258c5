export { kalmanStep, ensembleMean, ensembleCovarianceTrace, chooseOrdering } from './kalman';
export type { KalmanStepArgs, KalmanStepResult, EnsembleStatArgs, Ordering } from './kalman';
export { Ensemble } from './ensemble';
export type { EnsembleStepArgs } from './ensemble';
