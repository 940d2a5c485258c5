// The CUDA backend runs the same suite as the CPU (the Navier-Stokes suite on
// both of its kernels); skipped, with the probe's reason printed, where no
// GPU answers.
import { describeOnBackend } from '../helpers/backends';
import { defineKalmanSuite } from '../suites/kalman.suite';
import { defineNavierStokesSuite } from '../suites/navier-stokes.suite';
import { defineRandomSuite } from '../suites/random.suite';

describeOnBackend('cuda')('CUDA backend', () => {
  defineKalmanSuite('cuda');
  defineRandomSuite('cuda');
  defineNavierStokesSuite('cuda'); // the fused kernel where it applies, else cuFFT
  defineNavierStokesSuite('cuda', 'library'); // cuFFT throughout
});
