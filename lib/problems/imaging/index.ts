// The imaging forward models: inpainting, super-resolution, Gaussian
// deblurring and phase retrieval, on C x H x W images in [-1, 1].
export { ImagingOperator, DEFAULT_IMAGING_NOISE, DEFAULT_IMAGE_SHAPE } from './operator';
export type { ImagingOptions } from './operator';
export { Inpainting } from './inpainting';
export type { InpaintingOptions, InpaintingFileOptions, InpaintingBox } from './inpainting';
export { SuperResolution, BICUBIC_A } from './super-resolution';
export type { SuperResolutionOptions } from './super-resolution';
export { GaussianBlur, DEFAULT_BLUR_KERNEL_SIZE, DEFAULT_BLUR_STD, reflectIndex } from './gaussian-blur';
export type { GaussianBlurOptions } from './gaussian-blur';
export { PhaseRetrieval } from './phase-retrieval';
export type { PhaseRetrievalOptions } from './phase-retrieval';
