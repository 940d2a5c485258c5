// The CUDA backend runs the same suite as the CPU; skipped, with the probe's
// reason printed, where no GPU answers.
import { describeOnBackend } from '../helpers/backends';
import { defineKalmanSuite } from '../suites/kalman.suite';
import { defineNavierStokesSuite } from '../suites/navier-stokes.suite';
import { defineRandomSuite } from '../suites/random.suite';

describeOnBackend('cuda')('CUDA backend', () => {
  defineKalmanSuite('cuda');
  defineRandomSuite('cuda');
  defineNavierStokesSuite('cuda');
});
