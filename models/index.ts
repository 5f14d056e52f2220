/**
 * lbd-gpu: the package's public API (`import { ... } from 'lbd-gpu'`). Everything a user needs
 * to put learnable Bernoulli dropout into their own model: the engine (device, tensors, ops,
 * tape, optimizers, custom kernels, timing), the layers (the dropout family, lbdStep,
 * checkpoints), the paper's models, MC prediction and the metrics. The float64 checks
 * (checkGradients, checkOp) are in `lbd-gpu/testing`; the experiments are command lines
 * (`npx lbd-gpu <task>`), not part of the API. Nothing here loads a task's packages, and
 * nothing Node-only reaches a browser bundle (engine/host.ts).
 *
 * @module lbd-gpu
 */
export * from '../engine/index.js';
export * from '../layers/index.js';
export { mlp, dropoutLayers, type MlpOptions } from './mlp.js';
export { vgg19, VGG, loadPretrained, vggParameterCount, vggFeatureSize, vggConfigE, type VggOptions } from './vgg.js';
export {
  tiramisu, tiramisuDropout, Tiramisu, tiramisuParameterCount, FC_DENSENET_103, FC_DENSENET_67, FC_DENSENET_56,
  type TiramisuConfig, type TiramisuOptions, type TiramisuDropoutFactory, type DropoutWhere,
} from './tiramisu.js';
export { recommender, RECOMMENDER_KINDS, type AnyRecommenderOptions } from './vae.js';
export type { Recommender, RecommenderKind, RecommenderOptions } from './vae/common.js';
export { MultVAE, MultDAE, SIVAE, type MultVAEOptions, type SIVAEOptions } from './vae/basic.js';
export { VampPriorVAE, type VampPriorOptions } from './vae/vampprior.js';
export { IAFVAE, type IAFOptions } from './vae/iaf.js';
export { mcPredict, type MCPredictOptions, type MCPrediction } from './predict.js';
export * from './metrics/classification.js';
export * from './metrics/segmentation.js';
export * from './metrics/ranking.js';
