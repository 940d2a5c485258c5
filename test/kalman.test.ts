import { defineKalmanSuite } from './suites/kalman.suite';

defineKalmanSuite('cpu');
