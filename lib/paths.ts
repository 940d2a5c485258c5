// Files that ship with the package (models/, data/), found from the package
// root whether the code runs compiled (dist/) or from source (lib/).
import * as path from 'node:path';

export const PACKAGE_ROOT = path.resolve(__dirname, '..');

/** The shipped 64x64 Navier-Stokes vorticity prior (normalization w/10). */
export const NS_PRIOR_64 = path.join(PACKAGE_ROOT, 'models', 'ns-vorticity-64.onnx');

/** Held-out Navier-Stokes fields at t = 5 (physical units), disjoint from the prior's training seed. */
export const NS_HELD_OUT_64 = path.join(PACKAGE_ROOT, 'data', 'ns-64-heldout.npy');

/** The shipped 32x32 Fashion-MNIST image prior (images in [-1, 1]). */
export const FM_PRIOR_32 = path.join(PACKAGE_ROOT, 'models', 'fashion-mnist-32.onnx');

/** Held-out Fashion-MNIST images (the first 64 of the test split, [-1, 1]), disjoint from the prior's training split. */
export const FM_TEST_32 = path.join(PACKAGE_ROOT, 'data', 'fashion-mnist-32-test.npy');
