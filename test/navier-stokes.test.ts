import { defineNavierStokesSuite } from './suites/navier-stokes.suite';

defineNavierStokesSuite('cpu');
