// The layers' public surface: modules, the dropout family and its registry, the model-agnostic
// LBD step, and module checkpoints. Re-exported by the package root (models/index.ts).
export { Module } from './module.js';
export { Sequential, Lambda } from './sequential.js';
export { ReLU, Flatten } from './basic.js';
export { Linear, type LinearOptions } from './linear.js';
export { Conv2d, ConvTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from './conv.js';
export { MaxPool2d, AvgPool2d, GlobalAvgPool2d, type Pool2dOptions } from './pool.js';
export { BatchNorm1d, BatchNorm2d, FusedSequential, isBatchNorm, type BatchNormOptions as BatchNormLayerOptions } from './norm.js';
export { initWeight, fans, type InitName } from './init.js';
export { DropoutLayer, sumRegularizers, type DropoutKind, type NextWeight } from './dropout/base.js';
export { Dropout, MCDropout, type DropoutOptions } from './dropout/dropout.js';
export { GaussianDropout, type GaussianDropoutOptions } from './dropout/gaussian.js';
export { ConcreteDropout, type ConcreteDropoutOptions } from './dropout/concrete.js';
export { LearnableBernoulliDropout, SharedLogit, logit, type LBDOptions, type Granularity } from './dropout/lbd.js';
export type { RateGranularity, NoiseShape, LearnableCommonOptions } from './dropout/learnable.js';
export { lbdStep, lbdGradients, splitParameters, couplingOf, type LBDStepOptions, type LBDStepResult } from './dropout/lbd-step.js';
export { trainStep, stepGradients, trainsLbdLogits, type TrainStepOptions } from './train-step.js';
export {
  DROPOUT_NAMES, DROPOUT_REGISTRY, createDropout, isDropoutName, parseDropoutNames, dropoutLabel, registryName,
  type DropoutName, type DropoutSpec, type DropoutEntry,
} from './dropout/registry.js';
export {
  saveModule, loadModule, encodeModule, decodeModule, moduleEntries,
  type SaveModuleOptions, type LoadModuleOptions, type LoadedModule, type CheckpointParts, type OptimizerStateSource, type OptimizerStateTarget,
} from './checkpoint.js';
