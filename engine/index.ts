// The engine's public surface.
export { getGpu, gpu, destroyGpu, setQuiet, type Gpu, type DeviceInfo } from './device.js';
export { Tensor, tensor, zeros, empty, scalar, numel, type DType, type Shape } from './tensor.js';
export { scope, memoryStats, trimPool } from './memory.js';
export { sync, flush, gpuTimeMs, dispatchTotal, submitTotal, pipelineCount, setMaxBatch } from './dispatch.js';
export { noGrad, isGradEnabled } from './tape.js';
export { backward, registry, apply, defineOp, type OpDef, type Ref } from './op.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/layout.js';
export * from './ops/matmul.js';
export * from './ops/softmax.js';
export * from './ops/loss.js';
export * from './ops/conv.js';
export { Generator, manualSeed, rand, randn, randomTwin, philox, draw, defaultGenerator } from './random.js';
export { Optimizer, SGD, Adam, AdamW, RMSProp, type SGDOptions, type AdamOptions, type RMSPropOptions, type ParamGroup } from './optim.js';
export { saveTensors, loadTensors, readCheckpoint, loadTensorsInto, writeFileAtomic } from './checkpoint.js';
